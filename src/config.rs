//! Validated configuration: `slagboom.toml` parsed into [`file::File`], then checked
//! across keys and turned into [`Config`]. Every error is one line, `file:line: reason`.
//! `slagboom check` and `slagboom run` both call [`Config::load`].

pub mod file;
mod log;
mod radius;
mod tls;

pub use log::{read_secret, LogConfig, PrivacyConfig, Secret, SinkConfig};
pub use radius::{RadiusClient, RadiusConfig};
pub use tls::{InterceptConfig, TlsListenConfig};

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use time::OffsetDateTime;

pub use file::{
    Action, AllowedDetail, AuthMethod, Flavour, Format, Limits, OnSpoolFull, SinkType, TransparentOther, Transport,
    UnknownDevice,
};

use crate::host::Host;

/// A configuration, registry or ruleset error: `file:line: reason`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {reason}")]
pub struct LoadError {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

impl LoadError {
    /// An error at `line` of `file`; a reason spread over several lines (a TOML parser's
    /// message) is joined into one, so every error stays one line.
    pub fn new(file: &Path, line: usize, reason: impl Into<String>) -> LoadError {
        let reason: String = reason.into();
        let reason = if reason.contains(['\n', '\r']) {
            let parts: Vec<&str> = reason.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            parts.join("; ")
        } else {
            reason
        };
        LoadError {
            file: file.display().to_string(),
            line: line.max(1),
            reason,
        }
    }
}

/// The 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end].iter().filter(|&&b| b == b'\n').count() + 1
}

/// Parses TOML into `T`, mapping syntax and type errors to `file:line: reason`.
pub fn parse_toml<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, LoadError> {
    toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
        LoadError::new(path, line, e.message().trim().to_owned())
    })
}

/// Where the funding registry comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Url(String),
}

#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub name: std::sync::Arc<str>,
    pub listen: SocketAddr,
    /// The target of an `iptables`/`nftables` REDIRECT (SPEC §6a).
    pub transparent_listen: Option<SocketAddr>,
    /// The HTTPS proxy port (SPEC §7).
    pub tls: Option<TlsListenConfig>,
    pub transparent_other: TransparentOther,
    pub connect_ports: Vec<u16>,
    pub allow_destinations: Vec<IpNet>,
    pub deny_destinations: Vec<IpNet>,
    pub require_sni_for_covered: bool,
    pub allow_non_tls_tunnels: bool,
    /// Normalised host name to address.
    pub dns_overrides: HashMap<String, IpAddr>,
    pub limits: Limits,
}

/// The most events `/helpdesk` may keep in memory (about 830 bytes each).
pub const MAX_HELPDESK_RECENT_EVENTS: usize = 10_000_000;

#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    pub reload_token_file: Option<PathBuf>,
    /// Enables `/helpdesk` (SPEC §15): the HTTP Basic password, read on each request.
    pub helpdesk_token_file: Option<PathBuf>,
    /// Events kept in memory for `/helpdesk` lookups by event id (0 keeps none).
    pub helpdesk_recent_events: usize,
}

#[derive(Debug, Clone)]
pub struct PacConfig {
    pub proxy: String,
    pub https_proxy: Option<String>,
    /// Normalised suffixes without the leading dot.
    pub direct_suffixes: Vec<String>,
    pub direct_networks: Vec<IpNet>,
    pub fallback: String,
}

#[derive(Debug, Clone)]
pub struct RegistryConfig {
    pub source: Source,
    /// Line of `source` in the config, for errors about the registry file itself.
    pub source_line: usize,
    pub poll: Duration,
    pub max_shrink: f64,
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub methods: Vec<AuthMethod>,
    pub unknown_device: UnknownDevice,
}

/// A policy as configured; its rulesets are resolved against the loaded rules in
/// `state.rs`.
#[derive(Debug, Clone)]
pub struct PolicyConfig {
    pub id: String,
    pub title: String,
    pub authorities: Vec<String>,
    pub rulesets: Vec<(String, usize)>,
    pub covered: Action,
    pub advisory: Action,
    pub private: Action,
    pub effective_from: OffsetDateTime,
    pub review_by: Option<OffsetDateTime>,
    pub expires: Option<OffsetDateTime>,
    pub reference: String,
    pub line: usize,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub proxy: ProxyConfig,
    pub admin: AdminConfig,
    pub pac: PacConfig,
    pub registry: RegistryConfig,
    pub auth: AuthConfig,
    pub rules_dir: PathBuf,
    /// `[rules] tests`: where `slagboom test` finds its cases.
    pub tests_dir: PathBuf,
    pub policies: Vec<PolicyConfig>,
    pub contact: String,
    pub log: LogConfig,
    pub privacy: PrivacyConfig,
    /// `[radius]`, when accounting is listened to.
    pub radius: Option<RadiusConfig>,
    /// `[intercept]`: block and advice pages over HTTPS (SPEC §7).
    pub intercept: Option<InterceptConfig>,
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, LoadError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| LoadError::new(path, 1, format!("cannot read configuration: {e}")))?;
        Self::parse(path, &text)
    }

    /// Validates configuration text read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Config, LoadError> {
        let raw: file::File = parse_toml(path, text)?;
        Checker { path, text }.check(raw)
    }

    /// Every address the proxy listens on (refused as destinations).
    /// The `listener` label of each proxy listener configured (SPEC §10).
    pub fn listener_kinds(&self) -> Vec<&'static str> {
        let mut kinds = vec!["explicit"];
        if self.proxy.tls.is_some() {
            kinds.push("tls");
        }
        if self.proxy.transparent_listen.is_some() {
            kinds.push("transparent");
        }
        kinds
    }

    /// Every TCP address slagboom listens on.
    pub fn listeners(&self) -> Vec<SocketAddr> {
        let mut all = vec![self.proxy.listen, self.admin.listen];
        all.extend(self.proxy.transparent_listen);
        all.extend(self.proxy.tls.as_ref().map(|t| t.listen));
        all
    }
}

struct Checker<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Checker<'_> {
    fn err(&self, span: Range<usize>, reason: impl Into<String>) -> LoadError {
        LoadError::new(self.path, line_of(self.text, span.start), reason)
    }

    fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            return p.to_path_buf();
        }
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.join(p),
            _ => p.to_path_buf(),
        }
    }

    fn check(&self, raw: file::File) -> Result<Config, LoadError> {
        let proxy = self.proxy(raw.proxy)?;
        let intercept = self.intercept(raw.intercept)?;
        let admin = AdminConfig {
            listen: raw.admin.listen,
            reload_token_file: raw.admin.reload_token_file.map(|p| self.resolve(&p)),
            helpdesk_token_file: raw.admin.helpdesk_token_file.map(|p| self.resolve(&p)),
            helpdesk_recent_events: raw.admin.helpdesk_recent_events,
        };
        if admin.helpdesk_recent_events > MAX_HELPDESK_RECENT_EVENTS {
            return Err(LoadError::new(
                self.path,
                1,
                format!("[admin] helpdesk_recent_events: at most {MAX_HELPDESK_RECENT_EVENTS}"),
            ));
        }
        if admin.listen == proxy.listen {
            return Err(LoadError::new(self.path, 1, "[admin] listen equals [proxy] listen"));
        }
        let pac = self.pac(raw.pac, &proxy)?;
        let registry = self.registry(raw.registry)?;
        let auth = AuthConfig {
            methods: self.methods(raw.auth.methods)?,
            unknown_device: raw.auth.unknown_device,
        };
        let policies = self.policies(raw.policies)?;
        let log = self.log(raw.log)?;
        let privacy = self.privacy(raw.privacy)?;
        let radius = self.radius(raw.radius)?;
        Ok(Config {
            radius,
            intercept,
            path: self.path.to_path_buf(),
            proxy,
            admin,
            pac,
            registry,
            auth,
            rules_dir: self.resolve(&raw.rules.dir),
            tests_dir: self.resolve(&raw.rules.tests),
            policies,
            contact: raw.block_page.contact,
            log,
            privacy,
        })
    }

    fn proxy(&self, mut p: file::Proxy) -> Result<ProxyConfig, LoadError> {
        let tls = self.tls_listen(&mut p)?;
        if tls.as_ref().is_some_and(|t| t.listen == p.listen) {
            return Err(LoadError::new(
                self.path,
                tls.as_ref().map_or(1, |t| t.line),
                "tls_listen must differ from listen",
            ));
        }
        if let Some(l) = &p.transparent_listen {
            if !cfg!(target_os = "linux") {
                return Err(self.err(l.span(), "transparent_listen needs Linux (SO_ORIGINAL_DST)"));
            }
            if *l.get_ref() == p.listen {
                return Err(self.err(l.span(), "transparent_listen must differ from listen"));
            }
        }
        if p.connect_ports.contains(&0) {
            return Err(LoadError::new(self.path, 1, "connect_ports: port 0 is not a port"));
        }
        let mut dns_overrides = HashMap::new();
        for (name, ip) in p.dns_overrides {
            let host = Host::parse(name.get_ref()).map_err(|e| {
                self.err(
                    name.span(),
                    format!("dns_overrides: {name:?}: {e}", name = name.get_ref()),
                )
            })?;
            dns_overrides.insert(host.as_str().to_owned(), ip);
        }
        let l = &p.limits;
        for (key, zero) in [
            ("max_connections", l.max_connections == 0),
            ("header_bytes", l.header_bytes < 1024),
            ("client_hello_bytes", l.client_hello_bytes < 512),
            ("header_timeout", l.header_timeout.is_zero()),
            ("client_hello_timeout", l.client_hello_timeout.is_zero()),
            ("idle_timeout", l.idle_timeout.is_zero()),
            ("connect_timeout", l.connect_timeout.is_zero()),
        ] {
            if zero {
                return Err(LoadError::new(
                    self.path,
                    1,
                    format!("[proxy.limits] {key} is too small"),
                ));
            }
        }
        Ok(ProxyConfig {
            name: p.name.unwrap_or_else(default_name).into(),
            listen: p.listen,
            transparent_listen: p.transparent_listen.map(|l| l.into_inner()),
            tls,
            transparent_other: p.transparent_other,
            connect_ports: p.connect_ports,
            allow_destinations: p.allow_destinations.iter().map(IpNet::trunc).collect(),
            deny_destinations: p.deny_destinations.iter().map(IpNet::trunc).collect(),
            require_sni_for_covered: p.require_sni_for_covered,
            allow_non_tls_tunnels: p.allow_non_tls_tunnels,
            dns_overrides,
            limits: p.limits,
        })
    }

    fn pac(&self, p: file::Pac, proxy: &ProxyConfig) -> Result<PacConfig, LoadError> {
        let mut direct_suffixes = Vec::new();
        for s in p.direct_suffixes {
            let bare = s.get_ref().trim_start_matches('.');
            let host = Host::parse(bare)
                .map_err(|e| self.err(s.span(), format!("direct_suffixes: {:?}: {e}", s.get_ref())))?;
            direct_suffixes.push(host.as_str().to_owned());
        }
        for value in [&p.proxy, &p.https_proxy].into_iter().flatten() {
            if value.is_empty() || value.contains(|c: char| c.is_whitespace() || c == ';' || c == '"') {
                return Err(LoadError::new(
                    self.path,
                    1,
                    format!("[pac] proxy address {value:?} is not host:port"),
                ));
            }
        }
        Ok(PacConfig {
            proxy: p.proxy.unwrap_or_else(|| proxy.listen.to_string()),
            https_proxy: p.https_proxy,
            direct_suffixes,
            direct_networks: p.direct_networks,
            fallback: p.fallback,
        })
    }

    fn registry(&self, r: toml::Spanned<file::Registry>) -> Result<RegistryConfig, LoadError> {
        let span = r.span();
        let r = r.into_inner();
        let source_line = line_of(self.text, r.source.span().start);
        let text = r.source.get_ref();
        let source = if text.starts_with("https://") {
            Source::Url(text.clone())
        } else if text.contains("://") {
            return Err(self.err(r.source.span(), "registry source must be a path or an https:// URL"));
        } else {
            let path = self.resolve(Path::new(text));
            match path.extension().and_then(|e| e.to_str()) {
                Some("csv") | Some("json") => Source::File(path),
                _ => return Err(self.err(r.source.span(), "registry source must end in .csv or .json")),
            }
        };
        let shrink = *r.max_shrink.get_ref();
        if !(0.0..=1.0).contains(&shrink) {
            return Err(self.err(r.max_shrink.span(), "max_shrink must be between 0 and 1"));
        }
        if r.poll.0.is_zero() {
            return Err(self.err(span, "poll must be longer than 0s"));
        }
        Ok(RegistryConfig {
            source,
            source_line,
            poll: r.poll.0,
            max_shrink: shrink,
            ca_file: r.ca_file.map(|p| self.resolve(&p)),
        })
    }

    fn methods(&self, m: toml::Spanned<Vec<AuthMethod>>) -> Result<Vec<AuthMethod>, LoadError> {
        let span = m.span();
        let list = m.into_inner();
        let unique: HashSet<_> = list.iter().collect();
        if unique.len() != list.len() {
            return Err(self.err(span, "[auth] methods lists a method twice"));
        }
        // Tried in the fixed order client-cert, token, source-ip, whatever the listing.
        let order = [AuthMethod::ClientCert, AuthMethod::Token, AuthMethod::SourceIp];
        Ok(order.into_iter().filter(|m| list.contains(m)).collect())
    }

    fn policies(&self, list: Vec<toml::Spanned<file::Policy>>) -> Result<Vec<PolicyConfig>, LoadError> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for p in list {
            let span = p.span();
            let p = p.into_inner();
            let id = p.id.get_ref().clone();
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
                return Err(self.err(p.id.span(), format!("policy id {id:?} must be [A-Za-z0-9._-]+")));
            }
            if !seen.insert(id.clone()) {
                return Err(self.err(p.id.span(), format!("duplicate policy id {id:?}")));
            }
            if p.authorities.get_ref().is_empty() {
                return Err(self.err(p.authorities.span(), format!("policy {id:?} names no authority")));
            }
            if p.rulesets.is_empty() {
                return Err(self.err(span, format!("policy {id:?} names no ruleset")));
            }
            if let Some(exp) = p.expires {
                if exp.0 <= p.effective_from.0 {
                    return Err(self.err(span, format!("policy {id:?} expires before it takes effect")));
                }
            }
            out.push(PolicyConfig {
                id,
                title: p.title,
                authorities: p.authorities.into_inner(),
                rulesets: p
                    .rulesets
                    .into_iter()
                    .map(|r| (r.get_ref().clone(), line_of(self.text, r.span().start)))
                    .collect(),
                covered: p.covered,
                advisory: p.advisory,
                private: p.private,
                effective_from: p.effective_from.0,
                review_by: p.review_by.map(|d| d.0),
                expires: p.expires.map(|d| d.0),
                reference: p.reference,
                line: line_of(self.text, span.start),
            });
        }
        Ok(out)
    }
}

/// `observer.name` when `[proxy] name` is not set: the machine's host name.
fn default_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "slagboom".to_owned())
}

#[cfg(test)]
mod tests;

//! `[log]`, `[[log.sink]]` and `[privacy]`: where events go, and what they may say.
//! Each sink takes the keys of its type and only those; secrets (tokens, the pseudonym
//! key) are read at load and never printed.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::file::{self, AllowedDetail, Flavour, Format, OnSpoolFull, SinkType, Transport};
use super::{Checker, LoadError};

#[derive(Debug, Clone)]
pub struct SinkConfig {
    pub name: String,
    pub kind: SinkType,
    pub format: Format,
    /// Syslog facility number (RFC 5424 PRI).
    pub facility: u8,
    /// `file`: the file.
    pub path: Option<PathBuf>,
    /// `syslog`: `host:port` and transport.
    pub address: Option<String>,
    pub transport: Transport,
    /// `syslog` over TLS and `http` over https: the client configuration (CA file,
    /// client certificate), built at load so a bad file is a load error.
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// `http`.
    pub flavour: Option<Flavour>,
    pub url: Option<String>,
    pub token: Option<Secret>,
    pub index: String,
    pub batch_events: usize,
    pub batch_bytes: usize,
    pub batch_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub spool_dir: PathBuf,
    pub spool_max_bytes: u64,
    pub on_spool_full: OnSpoolFull,
    pub fsync_interval: Duration,
    /// A sink connection that acknowledges nothing this long while events are
    /// outstanding is replaced, and what it did not acknowledge is sent again.
    pub sink_stall_timeout: Duration,
    pub tunnel_open_events: bool,
    pub sinks: Vec<SinkConfig>,
}

/// Key bytes for owner pseudonyms; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Debug, Clone)]
pub struct PrivacyConfig {
    pub pseudonym_key: Option<Secret>,
    pub allowed_detail: AllowedDetail,
}

impl Checker<'_> {
    pub(super) fn log(&self, l: file::Log) -> Result<LogConfig, LoadError> {
        let mut sinks = Vec::new();
        let mut names = HashSet::new();
        for (i, s) in l.sink.into_iter().enumerate() {
            let span = s.span();
            let sink = self
                .sink(i, s.into_inner())
                .map_err(|reason| self.err(span.clone(), reason))?;
            if !names.insert(sink.name.clone()) {
                return Err(self.err(span, format!("duplicate sink name {:?}", sink.name)));
            }
            sinks.push(sink);
        }
        Ok(LogConfig {
            spool_dir: self.resolve(&l.spool_dir),
            spool_max_bytes: l.spool_max_bytes,
            on_spool_full: l.on_spool_full,
            fsync_interval: l.fsync_interval.0,
            sink_stall_timeout: l.sink_stall_timeout.0.max(Duration::from_millis(100)),
            tunnel_open_events: l.tunnel_open_events,
            sinks,
        })
    }

    /// One `[[log.sink]]`: the keys of its type, and only those.
    fn sink(&self, i: usize, s: file::Sink) -> Result<SinkConfig, String> {
        let type_name = match s.kind {
            SinkType::Stdout => "stdout",
            SinkType::File => "file",
            SinkType::Syslog => "syslog",
            SinkType::Http => "http",
        };
        let name = s.name.clone().unwrap_or_else(|| format!("{type_name}-{}", i + 1));
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
            return Err(format!("sink name {name:?} must be [A-Za-z0-9._-]+"));
        }
        let (file, syslog, tls, http) = (
            s.kind == SinkType::File,
            s.kind == SinkType::Syslog,
            s.kind == SinkType::Syslog && s.transport == Some(Transport::Tls),
            s.kind == SinkType::Http,
        );
        let allowed = [
            ("path", s.path.is_some(), file),
            ("address", s.address.is_some(), syslog),
            ("transport", s.transport.is_some(), syslog),
            ("client_cert", s.client_cert.is_some(), tls),
            ("client_key", s.client_key.is_some(), tls),
            ("ca_file", s.ca_file.is_some(), tls || http),
            ("flavour", s.flavour.is_some(), http),
            ("url", s.url.is_some(), http),
            ("token_file", s.token_file.is_some(), http),
            ("index", s.index.is_some(), http),
            ("batch_events", s.batch_events.is_some(), http),
            ("batch_bytes", s.batch_bytes.is_some(), http),
            ("batch_timeout", s.batch_timeout.is_some(), http),
            ("facility", s.facility.is_some(), s.format != Format::Ecs || syslog),
        ];
        if let Some((key, _, _)) = allowed.iter().find(|(_, set, ok)| *set && !*ok) {
            return Err(format!("key {key} does not apply to this {type_name} sink"));
        }
        let facility = match &s.facility {
            None => 16,
            Some(f) => file::syslog_facility(f).ok_or_else(|| format!("unknown syslog facility {f:?}"))?,
        };
        if file && s.path.is_none() {
            return Err("a file sink needs a path".into());
        }
        if syslog {
            let address = s
                .address
                .as_deref()
                .ok_or("a syslog sink needs an address (host:port)")?;
            match address.rsplit_once(':') {
                Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {}
                _ => return Err(format!("syslog address {address:?} is not host:port")),
            }
            if s.client_cert.is_some() != s.client_key.is_some() {
                return Err("client_cert and client_key go together".into());
            }
        }
        let mut url = None;
        if http {
            if s.flavour.is_none() {
                return Err("an http sink needs a flavour (splunk-hec or elastic-bulk)".into());
            }
            let text = s.url.clone().ok_or("an http sink needs a url")?;
            crate::http_client::Url::parse(&text)?;
            if s.flavour == Some(Flavour::SplunkHec) && s.token_file.is_none() {
                return Err("a splunk-hec sink needs a token_file".into());
            }
            url = Some(text);
        }
        let token = match &s.token_file {
            None => None,
            Some(p) => Some(read_secret(&self.resolve(p)).map_err(|e| format!("token_file: {e}"))?),
        };
        let wants_tls = tls || url.as_deref().is_some_and(|u| u.starts_with("https://"));
        let tls_config = if wants_tls {
            let ca = s.ca_file.as_ref().map(|p| self.resolve(p));
            let client = match (&s.client_cert, &s.client_key) {
                (Some(c), Some(k)) => Some((self.resolve(c), self.resolve(k))),
                _ => None,
            };
            let client_ref = client.as_ref().map(|(c, k)| (c.as_path(), k.as_path()));
            Some(crate::tls::client::config(ca.as_deref(), client_ref)?)
        } else {
            None
        };
        Ok(SinkConfig {
            name,
            kind: s.kind,
            format: s.format,
            facility,
            path: s.path.as_ref().map(|p| self.resolve(p)),
            address: s.address,
            transport: s.transport.unwrap_or(Transport::Tcp),
            tls: tls_config,
            flavour: s.flavour,
            url,
            token,
            index: s.index.unwrap_or_else(|| "logs-slagboom-default".to_owned()),
            batch_events: s.batch_events.unwrap_or(500).max(1),
            batch_bytes: s.batch_bytes.unwrap_or(1 << 20).max(1024),
            batch_timeout: s.batch_timeout.map_or(Duration::from_secs(1), |d| d.0),
        })
    }

    pub(super) fn privacy(&self, p: Option<toml::Spanned<file::Privacy>>) -> Result<PrivacyConfig, LoadError> {
        let Some(p) = p else {
            return Ok(PrivacyConfig {
                pseudonym_key: None,
                allowed_detail: AllowedDetail::Host,
            });
        };
        let span = p.span();
        let p = p.into_inner();
        let pseudonym_key = match (p.pseudonymise_owner, &p.key_file) {
            (false, _) => None,
            (true, None) => return Err(self.err(span, "pseudonymise_owner needs key_file")),
            (true, Some(file)) => {
                Some(read_secret(&self.resolve(file)).map_err(|e| self.err(span, format!("key_file {e}")))?)
            }
        };
        Ok(PrivacyConfig {
            pseudonym_key,
            allowed_detail: p.allowed_detail,
        })
    }
}

/// Reads a secret file: its bytes minus trailing whitespace; empty is an error.
pub fn read_secret(path: &Path) -> Result<Secret, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    if end == 0 {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(Secret(bytes[..end].to_vec()))
}

//! The immutable [`Snapshot`] every connection works from: configuration, registry,
//! rules and policies, built together and swapped whole on reload. A connection loads
//! the current snapshot once, at accept, and keeps it until it closes.

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use time::OffsetDateTime;

use crate::config::{Config, LoadError, Source};
use crate::host::Host;
use crate::policy::{self, Decision, Explanation, Policy, Subject, Window};
use crate::registry::Registry;
use crate::rules::{self, RuleIndex};
use crate::tls::leaf::BlockCa;

mod version;
pub use version::{summary, Canonical};

/// Everything a decision needs, loaded and checked together.
#[derive(Debug)]
pub struct Snapshot {
    pub config: Config,
    pub registry: Registry,
    pub rules: RuleIndex,
    pub policies: Vec<Policy>,
    /// The `ETag` of a registry fetched from a URL, for conditional polling.
    pub registry_etag: Option<String>,
    /// SHA-256 of a registry fetched from a URL (servers without `ETag`).
    pub registry_digest: Option<[u8; 32]>,
    /// The HTTPS proxy port's TLS (`tls_listen`).
    pub tls_listen: Option<Arc<rustls::ServerConfig>>,
    /// The block-page CA (`[intercept]`).
    pub block_ca: Option<Arc<BlockCa>>,
    /// `labels.policy_version` of every event made under this snapshot (SPEC §14).
    pub policy_version: Arc<str>,
    /// What the version is a hash of, kept for the `config_changed` summary.
    pub canonical: Canonical,
}

impl Snapshot {
    /// Loads the configuration at `path` and everything it names. This is the loader
    /// `run`, `check`, `explain` and every reload use.
    pub fn load(path: &Path) -> Result<Snapshot, LoadError> {
        let config = Config::load(path)?;
        Self::from_config(config)
    }

    /// Loads the registry and rules named by an already validated configuration, and
    /// reads and checks its certificates and keys (`tls_listen`, `[intercept]`).
    pub fn from_config(config: Config) -> Result<Snapshot, LoadError> {
        let mut snap = Self::without_keys(config)?;
        let cfg = &snap.config;
        if let Some(t) = &cfg.proxy.tls {
            let server = crate::tls::server::listen_config(t)
                .map_err(|e| LoadError::new(&cfg.path, t.line, format!("tls_listen: {e}")))?;
            snap.tls_listen = Some(server);
        }
        if let Some(i) = &cfg.intercept {
            let ca = BlockCa::load(&i.ca_cert, &i.ca_key)
                .map_err(|e| LoadError::new(&cfg.path, i.line, format!("[intercept] {e}")))?;
            snap.block_ca = Some(Arc::new(ca));
        }
        Ok(snap)
    }

    /// Loads the configuration at `path` with its registry and rules, but reads no
    /// certificate or key (`ca init` makes them).
    pub fn load_without_keys(path: &Path) -> Result<Snapshot, LoadError> {
        Self::without_keys(Config::load(path)?)
    }

    fn without_keys(config: Config) -> Result<Snapshot, LoadError> {
        let rules = rules::load_dir(&config.rules_dir)?;
        let policies = config
            .policies
            .iter()
            .map(|p| Policy::resolve(p, &rules, &config.path))
            .collect::<Result<Vec<_>, _>>()?;
        let mut etag = None;
        let mut digest = None;
        let registry = match &config.registry.source {
            Source::File(file) => Registry::load(file).map_err(|e| {
                if e.reason.starts_with("cannot read registry") {
                    LoadError::new(
                        &config.path,
                        config.registry.source_line,
                        format!("registry source {}: {}", file.display(), e.reason),
                    )
                } else {
                    e
                }
            })?,
            Source::Url(url) => {
                let line = config.registry.source_line;
                let fetched = crate::registry::remote::fetch_blocking(url, config.registry.ca_file.as_deref())
                    .map_err(|e| LoadError::new(&config.path, line, format!("registry source {e}")))?;
                etag = fetched.etag.clone();
                digest = Some(fetched.digest());
                let path = std::path::PathBuf::from(format!("{url}#{}", fetched.name));
                Registry::parse(&path, &fetched.text).map_err(|e| LoadError { file: url.clone(), ..e })?
            }
        };
        let canonical = Canonical::of(&config, &rules, &registry);
        Ok(Snapshot {
            policy_version: canonical.version().into(),
            canonical,
            config,
            registry,
            rules,
            policies,
            registry_etag: etag,
            registry_digest: digest,
            tls_listen: None,
            block_ca: None,
        })
    }

    /// The decision for `subject` visiting `host` at `now`.
    pub fn decide(&self, subject: &Subject<'_>, host: &Host, now: OffsetDateTime) -> Decision {
        policy::decide(&self.policies, &self.rules, subject, host, now)
    }

    /// The decision for a resolved address (ruleset `cidrs`).
    pub fn decide_address(&self, subject: &Subject<'_>, ip: std::net::IpAddr, now: OffsetDateTime) -> Decision {
        let matches = self.rules.lookup_ip(ip);
        policy::decide_matches(&self.policies, subject, &matches, now)
    }

    /// The same decision with every policy's part in it.
    pub fn explain(&self, subject: &Subject<'_>, host: &Host, now: OffsetDateTime) -> Explanation {
        policy::explain(&self.policies, &self.rules, subject, host, now)
    }

    /// Policies past their review date at `now` that are still in force.
    pub fn overdue_policies(&self, now: OffsetDateTime) -> Vec<&Policy> {
        self.policies
            .iter()
            .filter(|p| p.window(now) == Window::InForce { overdue: true })
            .collect()
    }
}

/// The current snapshot, swapped atomically on reload.
#[derive(Debug)]
pub struct State {
    current: ArcSwap<Snapshot>,
}

impl State {
    pub fn new(snapshot: Snapshot) -> State {
        State {
            current: ArcSwap::from_pointee(snapshot),
        }
    }

    /// The snapshot in force now.
    pub fn load(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Puts `next` in force; connections already open keep the one they loaded.
    pub fn swap(&self, next: Snapshot) -> Arc<Snapshot> {
        let next = Arc::new(next);
        self.current.store(next.clone());
        next
    }
}

//! The serde shape of `slagboom.toml`: every key of the reference configuration, unknown
//! keys refused, defaults from the specification. Values that can be checked on their
//! own (addresses, CIDRs, durations, dates, enums) are checked here, so a bad value is
//! reported with the line it stands on; cross-key checks live in `config.rs`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer};
use time::OffsetDateTime;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    #[serde(default)]
    pub proxy: Proxy,
    #[serde(default)]
    pub admin: Admin,
    #[serde(default)]
    pub pac: Pac,
    pub registry: Spanned<Registry>,
    #[serde(default)]
    pub auth: Auth,
    #[serde(default)]
    pub rules: Rules,
    #[serde(default, rename = "policy")]
    pub policies: Vec<Spanned<Policy>>,
    pub intercept: Option<Spanned<Intercept>>,
    pub radius: Option<Spanned<Radius>>,
    #[serde(default)]
    pub block_page: BlockPage,
    #[serde(default)]
    pub log: Log,
    pub privacy: Option<Spanned<Privacy>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Proxy {
    pub name: Option<String>,
    pub listen: SocketAddr,
    pub tls_listen: Option<Spanned<SocketAddr>>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub client_ca: Option<PathBuf>,
    pub transparent_listen: Option<Spanned<SocketAddr>>,
    pub transparent_other: TransparentOther,
    pub connect_ports: Vec<u16>,
    pub allow_destinations: Vec<IpNet>,
    pub deny_destinations: Vec<IpNet>,
    pub require_sni_for_covered: bool,
    /// Let a tunnel whose first bytes are not TLS through, deciding on the CONNECT host
    /// alone (as for a ClientHello without SNI). Off: such tunnels are closed (`not_tls`).
    pub allow_non_tls_tunnels: bool,
    pub dns_overrides: BTreeMap<Spanned<String>, IpAddr>,
    pub limits: Limits,
}

impl Default for Proxy {
    fn default() -> Self {
        Proxy {
            name: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 3128)),
            tls_listen: None,
            tls_cert: None,
            tls_key: None,
            client_ca: None,
            transparent_listen: None,
            transparent_other: TransparentOther::RefuseCovered,
            connect_ports: vec![443, 8443],
            allow_destinations: Vec::new(),
            deny_destinations: Vec::new(),
            require_sni_for_covered: false,
            allow_non_tls_tunnels: false,
            dns_overrides: BTreeMap::new(),
            limits: Limits::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub max_connections: usize,
    pub header_bytes: usize,
    #[serde(deserialize_with = "duration")]
    pub header_timeout: Duration,
    #[serde(deserialize_with = "duration")]
    pub client_hello_timeout: Duration,
    pub client_hello_bytes: usize,
    #[serde(deserialize_with = "duration")]
    pub idle_timeout: Duration,
    #[serde(deserialize_with = "duration")]
    pub connect_timeout: Duration,
    pub auth_failures_per_minute: u32,
    #[serde(deserialize_with = "duration")]
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 50_000,
            header_bytes: 64 * 1024,
            header_timeout: Duration::from_secs(30),
            client_hello_timeout: Duration::from_secs(10),
            client_hello_bytes: 64 * 1024,
            idle_timeout: Duration::from_secs(15 * 60),
            connect_timeout: Duration::from_secs(10),
            auth_failures_per_minute: 30,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    Dur::deserialize(d).map(|d| d.0)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Admin {
    pub listen: SocketAddr,
    pub reload_token_file: Option<PathBuf>,
    pub helpdesk_token_file: Option<PathBuf>,
    pub helpdesk_recent_events: usize,
}

impl Default for Admin {
    fn default() -> Self {
        Admin {
            listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            reload_token_file: None,
            helpdesk_token_file: None,
            helpdesk_recent_events: 100_000,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Pac {
    pub proxy: Option<String>,
    pub https_proxy: Option<String>,
    pub direct_suffixes: Vec<Spanned<String>>,
    pub direct_networks: Vec<IpNet>,
    pub fallback: String,
}

impl Default for Pac {
    fn default() -> Self {
        Pac {
            proxy: None,
            https_proxy: None,
            direct_suffixes: Vec::new(),
            direct_networks: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
                .iter()
                .filter_map(|n| n.parse().ok())
                .collect(),
            fallback: "DIRECT".to_owned(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    pub source: Spanned<String>,
    #[serde(default = "default_poll")]
    pub poll: Dur,
    #[serde(default = "default_max_shrink")]
    pub max_shrink: Spanned<f64>,
    pub ca_file: Option<PathBuf>,
}

fn default_poll() -> Dur {
    Dur::secs(30)
}

fn default_max_shrink() -> Spanned<f64> {
    Spanned::new(0..0, 0.5)
}

/// What the transparent listener does with first bytes that are neither TLS nor HTTP.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum TransparentOther {
    /// Refused for covered devices, passed for the others (default).
    RefuseCovered,
    Refuse,
    Pass,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMethod {
    ClientCert,
    Token,
    SourceIp,
}

impl AuthMethod {
    /// The name in `[auth] methods` and in the `method` metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientCert => "client-cert",
            AuthMethod::Token => "token",
            AuthMethod::SourceIp => "source-ip",
        }
    }
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum UnknownDevice {
    Deny,
    Covered,
    Allow,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Auth {
    pub methods: Spanned<Vec<AuthMethod>>,
    pub unknown_device: UnknownDevice,
}

impl Default for Auth {
    fn default() -> Self {
        Auth {
            methods: Spanned::new(
                0..0,
                vec![AuthMethod::ClientCert, AuthMethod::Token, AuthMethod::SourceIp],
            ),
            unknown_device: UnknownDevice::Deny,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rules {
    pub dir: PathBuf,
    /// Policy tests (SPEC §14): a directory of `*.toml` case files.
    pub tests: PathBuf,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            dir: PathBuf::from("rules"),
            tests: PathBuf::from("rules/tests"),
        }
    }
}

/// What a policy does to traffic that matches it; the strictest wins (declaration
/// order: block > report > warn > allow, SPEC §5).
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Allow,
    Warn,
    /// Allowed untouched, recorded as `reported` with the facts a block would carry:
    /// how a new ban is phased in.
    Report,
    Block,
}

impl Action {
    /// The name in a policy and in the `action` label of `slagboom_decisions_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Warn => "warn",
            Action::Report => "report",
            Action::Block => "block",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub id: Spanned<String>,
    pub title: String,
    pub authorities: Spanned<Vec<String>>,
    pub rulesets: Vec<Spanned<String>>,
    pub covered: Action,
    pub advisory: Action,
    pub private: Action,
    pub effective_from: Date,
    pub review_by: Option<Date>,
    pub expires: Option<Date>,
    pub reference: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intercept {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    /// Lifetime of a minted leaf (default 7 days, at most 30).
    pub leaf_lifetime: Option<Dur>,
    /// Leaves kept (LRU, default 10,000).
    pub leaf_cache: Option<usize>,
    /// Advice pages for `warn` on TLS connections (default true).
    #[serde(default = "default_true")]
    pub advice_pages: bool,
}

fn default_true() -> bool {
    true
}

/// `[radius]`: identity from the network's RADIUS accounting (SPEC §13).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Radius {
    pub listen: SocketAddr,
    pub binding_ttl: Option<Dur>,
    #[serde(default)]
    pub client: Vec<RadiusClient>,
}

/// One NAS allowed to send accounting.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RadiusClient {
    pub address: IpNet,
    pub secret_file: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlockPage {
    pub contact: String,
}

impl Default for BlockPage {
    fn default() -> Self {
        BlockPage {
            contact: "your ICT helpdesk".to_owned(),
        }
    }
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum OnSpoolFull {
    RefuseNewConnections,
    DropOldest,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    pub spool_dir: PathBuf,
    pub spool_max_bytes: u64,
    pub on_spool_full: OnSpoolFull,
    pub fsync_interval: Dur,
    pub sink_stall_timeout: Dur,
    pub tunnel_open_events: bool,
    pub sink: Vec<Spanned<Sink>>,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            spool_dir: PathBuf::from("spool"),
            spool_max_bytes: 1 << 30,
            on_spool_full: OnSpoolFull::RefuseNewConnections,
            fsync_interval: Dur::secs(1),
            sink_stall_timeout: Dur::secs(30),
            tunnel_open_events: false,
            sink: Vec::new(),
        }
    }
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SinkType {
    Stdout,
    File,
    Syslog,
    Http,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Ecs,
    Cef,
    Rfc5424,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Tcp,
    Tls,
    Udp,
    /// RELP, rsyslog's Reliable Event Logging Protocol: the collector acknowledges
    /// each event.
    Relp,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Flavour {
    SplunkHec,
    ElasticBulk,
}

/// One `[[log.sink]]`; which keys apply depends on `type` (checked in `config.rs`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sink {
    #[serde(rename = "type")]
    pub kind: SinkType,
    #[serde(default)]
    pub format: Format,
    pub name: Option<String>,
    pub path: Option<PathBuf>,
    pub address: Option<String>,
    pub transport: Option<Transport>,
    pub ca_file: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub flavour: Option<Flavour>,
    pub url: Option<String>,
    pub token_file: Option<PathBuf>,
    pub index: Option<String>,
    pub batch_events: Option<usize>,
    pub batch_bytes: Option<usize>,
    pub batch_timeout: Option<Dur>,
    /// Syslog facility name for `rfc5424` messages (default `local0`).
    pub facility: Option<String>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AllowedDetail {
    Host,
    Url,
    None,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Privacy {
    pub pseudonymise_owner: bool,
    pub key_file: Option<PathBuf>,
    pub allowed_detail: AllowedDetail,
}

impl Default for Privacy {
    fn default() -> Self {
        Privacy {
            pseudonymise_owner: false,
            key_file: None,
            allowed_detail: AllowedDetail::Host,
        }
    }
}

/// A humantime duration (`10s`, `15m`, `1h 30m`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl Dur {
    const fn secs(s: u64) -> Dur {
        Dur(Duration::from_secs(s))
    }
}

impl fmt::Debug for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text)
            .map(Dur)
            .map_err(|e| serde::de::Error::custom(format!("invalid duration {text:?}: {e}")))
    }
}

/// An RFC 3339 date with offset (`2023-03-10T00:00:00+01:00`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Date(pub OffsetDateTime);

impl fmt::Debug for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
            .map(Date)
            .map_err(|e| serde::de::Error::custom(format!("invalid RFC 3339 date {text:?}: {e}")))
    }
}

/// Facility numbers by name (`kern` 0 … `local7` 23).
/// (RFC 5424 §6.2.1.)
pub fn syslog_facility(name: &str) -> Option<u8> {
    const NAMES: [&str; 24] = [
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp", "ntp",
        "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
    ];
    NAMES.iter().position(|n| *n == name).and_then(|i| u8::try_from(i).ok())
}

#[cfg(test)]
mod facility_tests {
    use super::syslog_facility;

    #[test]
    fn facility_names() {
        assert_eq!(syslog_facility("local0"), Some(16));
        assert_eq!(syslog_facility("kern"), Some(0));
        assert_eq!(syslog_facility("local7"), Some(23));
        assert_eq!(syslog_facility("nope"), None);
    }
}

//! Events for the SIEM: one [`Event`] per proxied request, per tunnel, per refused
//! authentication and per refused connection.
//!
//! An event is built by the connection, passed through the privacy rules, encoded (ECS
//! JSON, field names in [`fields`]) and handed to the [`EventLog`], which writes it to
//! every configured sink. Operational logs (`tracing`) are separate.

pub mod fields;
pub mod format;
mod pipeline;
pub mod privacy;
mod record;
pub mod sink;
pub mod spool;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub use format::{cef, ecs, rfc5424};
pub use pipeline::EventLog;
pub use record::Record;

use crate::registry::Coverage;

/// `event.action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Allowed,
    Blocked,
    Advised,
    AuthFailed,
    Refused,
    Error,
    /// A RADIUS accounting binding of an address to a device began (SPEC §13).
    Bound,
    /// That binding ended (Stop, Accounting-On/Off, a newer binding, or its TTL).
    Unbound,
    /// Allowed untouched under a `report` policy: it would have been blocked.
    Reported,
    /// A configuration came into force (at start, and after each successful reload).
    ConfigChanged,
}

impl Action {
    /// Every action. A spooled record stores its action's index here: new ones go at
    /// the end.
    pub const ALL: [Action; 10] = [
        Action::Allowed,
        Action::Blocked,
        Action::Advised,
        Action::AuthFailed,
        Action::Refused,
        Action::Error,
        Action::Bound,
        Action::Unbound,
        Action::Reported,
        Action::ConfigChanged,
    ];

    /// The action named `s` (as written in `event.action`).
    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allowed => "allowed",
            Action::Blocked => "blocked",
            Action::Advised => "advised",
            Action::AuthFailed => "auth_failed",
            Action::Refused => "refused",
            Action::Error => "error",
            Action::Bound => "bound",
            Action::Unbound => "unbound",
            Action::Reported => "reported",
            Action::ConfigChanged => "config_changed",
        }
    }

    /// `event.outcome`.
    pub fn outcome(self) -> &'static str {
        match self {
            Action::Allowed
            | Action::Advised
            | Action::Reported
            | Action::Bound
            | Action::Unbound
            | Action::ConfigChanged => "success",
            _ => "failure",
        }
    }

    /// True for the events outside connections that a RADIUS session makes.
    pub fn is_session(self) -> bool {
        matches!(self, Action::Bound | Action::Unbound)
    }

    /// The second `event.type` value (the only one of a session event).
    pub fn event_type(self) -> &'static str {
        match self {
            Action::Allowed | Action::Advised | Action::Reported => "allowed",
            Action::Blocked | Action::Refused | Action::AuthFailed => "denied",
            Action::Error => "error",
            Action::Bound => "start",
            Action::Unbound => "end",
            Action::ConfigChanged => "change",
        }
    }
}

/// `event.reason`: why traffic was refused or failed. Stable codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    Policy,
    DomainFronting,
    SniRequired,
    DestinationProhibited,
    PortNotAllowed,
    DeviceRetired,
    DeviceLost,
    SpoolFull,
    ConnectionLimit,
    CredentialsMissing,
    CredentialsInvalid,
    RateLimited,
    BadRequest,
    HeaderTooLarge,
    HeaderTimeout,
    ClientHelloTimeout,
    ClientHelloInvalid,
    NotTls,
    UpstreamDnsFailed,
    UpstreamConnectFailed,
    UpstreamTimeout,
}

impl Reason {
    pub const ALL: [Reason; 21] = [
        Reason::Policy,
        Reason::DomainFronting,
        Reason::SniRequired,
        Reason::DestinationProhibited,
        Reason::PortNotAllowed,
        Reason::DeviceRetired,
        Reason::DeviceLost,
        Reason::SpoolFull,
        Reason::ConnectionLimit,
        Reason::CredentialsMissing,
        Reason::CredentialsInvalid,
        Reason::RateLimited,
        Reason::BadRequest,
        Reason::HeaderTooLarge,
        Reason::HeaderTimeout,
        Reason::ClientHelloTimeout,
        Reason::ClientHelloInvalid,
        Reason::NotTls,
        Reason::UpstreamDnsFailed,
        Reason::UpstreamConnectFailed,
        Reason::UpstreamTimeout,
    ];

    /// The reason named `s` (as written in `event.reason`).
    pub fn parse(s: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Policy => "policy",
            Reason::DomainFronting => "domain_fronting",
            Reason::SniRequired => "sni_required",
            Reason::DestinationProhibited => "destination_prohibited",
            Reason::PortNotAllowed => "port_not_allowed",
            Reason::DeviceRetired => "device_retired",
            Reason::DeviceLost => "device_lost",
            Reason::SpoolFull => "spool_full",
            Reason::ConnectionLimit => "connection_limit",
            Reason::CredentialsMissing => "credentials_missing",
            Reason::CredentialsInvalid => "credentials_invalid",
            Reason::RateLimited => "rate_limited",
            Reason::BadRequest => "bad_request",
            Reason::HeaderTooLarge => "header_too_large",
            Reason::HeaderTimeout => "header_timeout",
            Reason::ClientHelloTimeout => "client_hello_timeout",
            Reason::ClientHelloInvalid => "client_hello_invalid",
            Reason::NotTls => "not_tls",
            Reason::UpstreamDnsFailed => "upstream_dns_failed",
            Reason::UpstreamConnectFailed => "upstream_connect_failed",
            Reason::UpstreamTimeout => "upstream_timeout",
        }
    }

    /// The action an event with this reason carries.
    pub fn action(self) -> Action {
        match self {
            Reason::Policy | Reason::DomainFronting | Reason::SniRequired => Action::Blocked,
            Reason::DestinationProhibited
            | Reason::PortNotAllowed
            | Reason::DeviceRetired
            | Reason::DeviceLost
            | Reason::SpoolFull
            | Reason::ConnectionLimit => Action::Refused,
            Reason::CredentialsMissing | Reason::CredentialsInvalid | Reason::RateLimited => Action::AuthFailed,
            _ => Action::Error,
        }
    }
}

/// `labels.listener`: the listener a connection came in on (SPEC §10 label values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    Explicit,
    Tls,
    Transparent,
}

impl Listener {
    pub const ALL: [Listener; 3] = [Listener::Explicit, Listener::Tls, Listener::Transparent];

    pub fn as_str(self) -> &'static str {
        match self {
            Listener::Explicit => "explicit",
            Listener::Tls => "tls",
            Listener::Transparent => "transparent",
        }
    }

    pub fn parse(s: &str) -> Option<Listener> {
        Listener::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

/// `labels.identity`: how the device was known (SPEC §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityLabel {
    ClientCert,
    Token,
    /// The registry's `addresses`.
    SourceIp,
    /// A RADIUS accounting binding.
    Radius,
    /// Not known.
    None,
}

impl IdentityLabel {
    pub const ALL: [IdentityLabel; 5] = [
        IdentityLabel::ClientCert,
        IdentityLabel::Token,
        IdentityLabel::SourceIp,
        IdentityLabel::Radius,
        IdentityLabel::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IdentityLabel::ClientCert => "client-cert",
            IdentityLabel::Token => "token",
            IdentityLabel::SourceIp => "source-ip",
            IdentityLabel::Radius => "radius",
            IdentityLabel::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<IdentityLabel> {
        IdentityLabel::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

/// `labels.coverage`: a registry coverage, or `unknown` when no device was identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoverageLabel {
    Known(Coverage),
    Unknown,
}

impl CoverageLabel {
    pub fn as_str(self) -> &'static str {
        match self {
            CoverageLabel::Known(c) => c.as_str(),
            CoverageLabel::Unknown => "unknown",
        }
    }
}

/// The `rule.*` fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRef {
    /// The matched entry (domain, exact host, pattern or CIDR).
    pub id: String,
    /// The ruleset title.
    pub name: String,
    /// The ruleset id.
    pub ruleset: String,
    /// The policy id.
    pub reference: String,
}

/// The device fields of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRef {
    pub id: Arc<str>,
    pub organisation: Option<Arc<str>>,
    pub owner: Option<Arc<str>>,
}

/// One SIEM event. Optional fields are omitted from the output when `None`. It is
/// spooled as a [`Record`] (its ECS line, encoded once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    pub timestamp: SystemTime,
    /// `observer.name`: the proxy instance that made the event.
    pub observer: Arc<str>,
    pub action: Action,
    /// True for a plain-HTTP request (`event.type` `access`), false for a connection.
    pub http: bool,
    pub reason: Option<Reason>,
    pub source: SocketAddr,
    pub coverage: CoverageLabel,
    pub destination_domain: Option<String>,
    pub destination_ip: Option<IpAddr>,
    pub destination_port: Option<u16>,
    pub server_name: Option<String>,
    pub method: Option<String>,
    pub status_code: Option<u16>,
    pub url: Option<String>,
    pub device: Option<DeviceRef>,
    pub rule: Option<RuleRef>,
    pub duration: Option<Duration>,
    pub source_bytes: Option<u64>,
    pub destination_bytes: Option<u64>,
    /// `labels.ech = "true"` when the ClientHello carried Encrypted Client Hello.
    pub ech: bool,
    /// `labels.listener`, on every connection event.
    pub listener: Option<Listener>,
    /// `labels.identity`, on every connection event.
    pub identity: Option<IdentityLabel>,
    /// `labels.protocol = "unknown"`: transparent bytes that were neither TLS nor HTTP.
    pub unknown_protocol: bool,
    /// `labels.intercepted = "true"`: TLS was terminated to show a block or advice page.
    pub intercepted: bool,
    /// `labels.acknowledged = "true"`: the device acknowledged an advice page.
    pub acknowledged: bool,
    /// `labels.policy_version`: the policies, rules and registry in force (SPEC §14).
    pub policy_version: Option<Arc<str>>,
    /// `labels.previous_policy_version` (config_changed).
    pub previous_policy_version: Option<Arc<str>>,
    /// `message`: what changed (config_changed).
    pub message: Option<String>,
    /// `source.mac` (bound / unbound).
    pub mac: Option<crate::registry::Mac>,
    /// `labels.nas`: the RADIUS client that reported the session (bound / unbound).
    pub nas: Option<IpAddr>,
}

impl Event {
    /// A new event with a fresh, unique, time-ordered id (UUIDv7).
    pub fn new(action: Action, source: SocketAddr) -> Event {
        Event {
            id: new_id(),
            timestamp: SystemTime::now(),
            observer: Arc::from(""),
            action,
            http: false,
            reason: None,
            source,
            coverage: CoverageLabel::Unknown,
            destination_domain: None,
            destination_ip: None,
            destination_port: None,
            server_name: None,
            method: None,
            status_code: None,
            url: None,
            device: None,
            rule: None,
            duration: None,
            source_bytes: None,
            destination_bytes: None,
            ech: false,
            listener: None,
            identity: None,
            unknown_protocol: false,
            intercepted: false,
            acknowledged: false,
            policy_version: None,
            previous_policy_version: None,
            message: None,
            mac: None,
            nas: None,
        }
    }
}

/// A fresh event id.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

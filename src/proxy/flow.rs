//! The spine of a connection: every phase, every early exit and the single event
//! emission, on one screen.
//!
//! ```text
//! read head -> learn target -> identify -> CONNECT: tunnel::run (port, decide, 200,
//!                                                    ClientHello, decide SNI, upstream, relay)
//!                                       -> http://:  forward::run (decide, upstream, relay)
//! ```
//! The snapshot is loaded once, at accept, and serves the whole connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::forward::{self, Upstream};
use super::head::{self, HeadError, RequestHead};
use super::inbound::Inbound;
use super::upstream::{self, UpstreamError};
use super::{tunnel, Phase, Shared};
use crate::auth::{self, AuthFailure, Credentials, Identity};
use crate::events::{Action, CoverageLabel, DeviceRef, Event, Reason, RuleRef};
use crate::host::Host;
use crate::metrics::{DecisionLabels, MethodLabel};
use crate::policy::{self, Decision, Subject};
use crate::registry::{Device, Status};
use crate::respond;
use crate::state::Snapshot;

/// What a connection knows that does not change while it lives.
pub(super) struct Ctx {
    pub shared: Arc<Shared>,
    pub snap: Arc<Snapshot>,
    pub peer: SocketAddr,
}

/// The connection's sockets and buffers.
pub(super) struct Io {
    pub client: TcpStream,
    pub inbound: Inbound,
    pub upstream: Option<Upstream>,
}

/// Sends a connection's last bytes and half-closes it. On Linux the bytes go with
/// `MSG_MORE`, so the kernel holds them until the shutdown and sends them with the FIN in
/// one segment: one packet less, and one wake-up less for the client.
pub(super) async fn last_answer(client: &mut TcpStream, bytes: &[u8]) {
    #[cfg(target_os = "linux")]
    let sent = {
        // The socket is non-blocking: a full send buffer (`EAGAIN`) or a short send
        // leaves the rest to `write_all`, which waits for the socket as usual.
        rustix::net::send(
            &*client,
            bytes,
            rustix::net::SendFlags::MORE | rustix::net::SendFlags::NOSIGNAL,
        )
        .unwrap_or(0)
    };
    #[cfg(not(target_os = "linux"))]
    let sent = 0;
    if let Some(rest) = bytes.get(sent..).filter(|r| !r.is_empty()) {
        let _ = client.write_all(rest).await;
    }
    let _ = client.shutdown().await;
}

/// Where a request goes.
#[derive(Debug, Clone)]
pub(super) struct Target {
    pub host: Host,
    pub port: u16,
    /// Plain HTTP: the origin-form path and query sent upstream.
    pub path: Option<String>,
}

/// The identified client.
#[derive(Debug, Clone, Copy)]
pub(super) struct Who<'s> {
    pub subject: Subject<'s>,
}

impl<'s> Who<'s> {
    pub fn subject(&self) -> Subject<'s> {
        self.subject
    }

    /// The registry device, when one was identified.
    pub fn device(&self) -> Option<&'s Device> {
        match self.subject {
            Subject::Device(d) => Some(d),
            Subject::Unknown(_) => None,
        }
    }
}

/// Serves one accepted connection until it closes.
pub(super) async fn serve(shared: Arc<Shared>, client: TcpStream, peer: SocketAddr) {
    let snap = shared.state.load();
    let ctx = Ctx { shared, snap, peer };
    let mut io = Io {
        client,
        inbound: Inbound::new(),
        upstream: None,
    };
    let mut phase = ctx.shared.phase.clone();
    let limits = &ctx.snap.config.proxy.limits;
    loop {
        let read = head::read(
            &mut io.inbound,
            &mut io.client,
            limits.header_bytes,
            limits.header_timeout,
        );
        let head = tokio::select! {
            h = read => h,
            _ = super::until(&mut phase, |p| p != Phase::Running) => return,
        };
        let head = match head {
            Ok(h) => h,
            Err(HeadError::Closed) => return,
            Err(HeadError::Refuse(reason)) => {
                let event = ctx.event(reason.action(), None, None);
                ctx.refuse(&mut io, event, reason, None).await;
                return;
            }
        };
        let started = Instant::now();
        let connect = head.method() == "CONNECT";
        let target = match parse_target(&head, connect) {
            Ok(t) => t,
            Err(reason) => {
                let mut event = ctx.event(reason.action(), None, None);
                event.http = !connect;
                event.method = Some(head.method().to_owned());
                ctx.refuse(&mut io, event, reason, None).await;
                return;
            }
        };
        let who = match ctx.identify(&mut io, &head, &target).await {
            Ok(who) => who,
            Err(true) => continue,
            Err(false) => return,
        };
        if connect {
            tunnel::run(&ctx, &mut io, &target, who, started).await;
            return;
        }
        if !forward::run(&ctx, &mut io, &head, &target, who, started).await {
            return;
        }
    }
}

/// The target of a CONNECT (`host:port`) or of an absolute-form `http://` request,
/// whose `Host` header must agree with it.
fn parse_target(head: &RequestHead, connect: bool) -> Result<Target, Reason> {
    if connect {
        let (host, port) = Host::parse_authority(head.target()).map_err(|_| Reason::BadRequest)?;
        let port = port.ok_or(Reason::BadRequest)?;
        return Ok(Target { host, port, path: None });
    }
    let t = head.target();
    let rest = match t.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("http://") => &t[7..],
        _ => return Err(Reason::BadRequest),
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.contains('@') || rest.contains('#') {
        return Err(Reason::BadRequest);
    }
    let (host, port) = Host::parse_authority(authority).map_err(|_| Reason::BadRequest)?;
    let port = port.unwrap_or(80);
    let path = match &rest[end..] {
        "" => "/".to_owned(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_owned(),
    };
    let mut hosts = head.all("host");
    let (Some(value), None) = (hosts.next(), hosts.next()) else {
        return Err(Reason::BadRequest);
    };
    let value = std::str::from_utf8(value).map_err(|_| Reason::BadRequest)?;
    let (h, p) = Host::parse_authority(value.trim()).map_err(|_| Reason::BadRequest)?;
    if h != host || p.unwrap_or(80) != port {
        return Err(Reason::BadRequest);
    }
    Ok(Target {
        host,
        port,
        path: Some(path),
    })
}

impl Ctx {
    /// A new event for this connection, with what is known of the target and client.
    pub fn event(&self, action: Action, target: Option<&Target>, who: Option<&Who<'_>>) -> Event {
        let mut e = Event::new(action, self.peer);
        if let Some(t) = target {
            match t.host.ip() {
                Some(ip) => e.destination_ip = Some(ip),
                None => e.destination_domain = Some(t.host.as_str().to_owned()),
            }
            e.destination_port = Some(t.port);
        }
        if let Some(w) = who {
            if let Some(d) = w.device() {
                e.device = Some(device_ref(d));
                e.coverage = CoverageLabel::Known(d.coverage());
            }
        }
        e
    }

    /// Sets action and `rule.*` from a decision.
    pub fn apply(&self, event: &mut Event, decision: &Decision) {
        let (policy, ruleset) = match decision.hit {
            Some(hit) => (
                self.snap.policies[hit.policy].id.clone(),
                self.snap.rules.ruleset(hit.ruleset).id.clone(),
            ),
            None => (String::new(), String::new()),
        };
        let action = decision.action.as_str();
        self.shared
            .metrics
            .decisions
            .get_or_create(&DecisionLabels {
                action,
                policy,
                ruleset,
            })
            .inc();
        event.action = match decision.action {
            policy::Action::Block => Action::Blocked,
            policy::Action::Warn => Action::Advised,
            policy::Action::Allow => Action::Allowed,
        };
        if decision.action == policy::Action::Block {
            event.reason = Some(Reason::Policy);
        }
        event.rule = decision.hit.map(|hit| {
            let rule = self.snap.rules.rule(hit.rule);
            let ruleset = self.snap.rules.ruleset(hit.ruleset);
            RuleRef {
                id: rule.text.clone(),
                name: ruleset.title.clone(),
                ruleset: ruleset.id.clone(),
                reference: self.snap.policies[hit.policy].id.clone(),
            }
        });
    }

    /// Resolves the target and checks every address it resolves to (address rules,
    /// ruleset CIDRs): the addresses to dial, resolved once (SPEC §6).
    pub async fn resolve(
        &self,
        subject: &Subject<'_>,
        target: &Target,
        now: time::OffsetDateTime,
    ) -> Result<Vec<SocketAddr>, UpstreamError> {
        let shared = &self.shared;
        upstream::resolve_checked(
            &self.snap,
            &shared.listeners,
            &shared.dns,
            subject,
            &target.host,
            target.port,
            now,
        )
        .await
    }

    /// The reason an upstream failure gives, with what it teaches the event: the
    /// refused address, and the decision of a ruleset CIDR that blocked it.
    pub fn upstream_failed(&self, event: &mut Event, e: UpstreamError) -> Reason {
        match e {
            UpstreamError::Dns => Reason::UpstreamDnsFailed,
            UpstreamError::Refused => Reason::UpstreamConnectFailed,
            UpstreamError::Timeout => Reason::UpstreamTimeout,
            UpstreamError::Prohibited(ip) => {
                event.destination_ip = Some(ip);
                Reason::DestinationProhibited
            }
            UpstreamError::Blocked(d, ip) => {
                event.destination_ip = Some(ip);
                self.apply(event, &d);
                Reason::Policy
            }
        }
    }

    /// Writes the event, then sends the refusal (so no refusal is seen unrecorded).
    /// `keep_alive` only for 407 on a request without a body.
    pub async fn refuse(&self, io: &mut Io, mut event: Event, reason: Reason, keep_alive: Option<bool>) -> bool {
        event.reason = Some(reason);
        event.action = reason.action();
        let keep = keep_alive.unwrap_or(false);
        let answering = respond::Answering {
            keep_alive: keep,
            head: event.method.as_deref() == Some("HEAD"),
        };
        let response = respond::refusal(reason, &event.id, answering);
        event.status_code = event.http.then(|| respond::status(reason).0);
        self.record(event).await;
        if keep {
            let _ = io.client.write_all(&response).await;
        } else {
            last_answer(&mut io.client, &response).await;
        }
        keep
    }

    pub async fn record(&self, event: Event) {
        // The operational log line carries the event id, so operator, helpdesk and SOC
        // can line up one connection.
        tracing::debug!(peer = %self.peer, event.id = %event.id, action = event.action.as_str(), reason = event.reason.map(|r| r.as_str()), "event");
        let cfg = &self.snap.config;
        self.shared.events.record(&cfg.privacy, &cfg.proxy.name, event).await;
    }

    /// Identifies the client. On failure the refusal is sent and the result says whether
    /// the connection stays open for another try.
    async fn identify<'s>(&'s self, io: &mut Io, head: &RequestHead, target: &Target) -> Result<Who<'s>, bool> {
        let mut credentials = head.all("proxy-authorization");
        let (proxy_authorization, doubled) = (credentials.next(), credentials.next().is_some());
        let creds = Credentials {
            proxy_authorization,
            client_cert_sha256: None,
            source: self.peer.ip(),
        };
        let now = std::time::Instant::now();
        let limiter = &self.shared.limiter;
        let http = head.method() != "CONNECT";
        let mut event = self.event(Action::AuthFailed, Some(target), None);
        event.http = http;
        event.method = Some(head.method().to_owned());
        if doubled {
            // SPEC §6: never "the first one wins"; the values are not looked at.
            return Err(self.refuse(io, event, Reason::BadRequest, None).await);
        }
        if creds.proxy_authorization.is_some() && limiter.is_limited(self.peer.ip(), now) {
            return Err(self.refuse(io, event, Reason::RateLimited, None).await);
        }
        let failure = match auth::identify(&self.snap, &creds) {
            Ok(Identity::Device { device, .. }) => {
                return Ok(Who {
                    subject: Subject::Device(self.snap.registry.device(device)),
                })
            }
            Ok(Identity::Unknown(mode)) => {
                return Ok(Who {
                    subject: Subject::Unknown(mode),
                })
            }
            Err(f) => f,
        };
        let no_body = matches!(head.framing(), Ok(head::Framing::None));
        let method = match failure {
            AuthFailure::Invalid(m) => m.as_str(),
            _ => "none",
        };
        self.shared
            .metrics
            .auth_failures
            .get_or_create(&MethodLabel { method })
            .inc();
        let reason = match failure {
            AuthFailure::Missing => Reason::CredentialsMissing,
            AuthFailure::Invalid(_) => {
                limiter.record_failure(self.peer.ip(), now);
                Reason::CredentialsInvalid
            }
            AuthFailure::Inactive { device, status } => {
                let d = self.snap.registry.device(device);
                event.device = Some(device_ref(d));
                event.coverage = CoverageLabel::Known(d.coverage());
                let reason = if status == Status::Lost {
                    Reason::DeviceLost
                } else {
                    Reason::DeviceRetired
                };
                return Err(self.refuse(io, event, reason, None).await);
            }
        };
        Err(self.refuse(io, event, reason, Some(no_body && head.version == 1)).await)
    }
}

pub(super) fn device_ref(d: &Device) -> DeviceRef {
    DeviceRef {
        id: d.id.clone(),
        organisation: d.organisation.clone(),
        owner: d.owner.clone(),
    }
}

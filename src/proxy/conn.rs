//! What one connection knows and shares with every phase: the process's shared
//! state and the snapshot loaded at accept ([`Ctx`]), its sockets and buffers
//! ([`Io`]), where it goes ([`Target`]) and who it is ([`Who`]); and how those facts
//! become an event ([`Ctx::event`], [`Ctx::apply`]).

use std::net::SocketAddr;
use std::sync::Arc;

use super::client::Client;
use super::head::{self, HeadError, RequestHead};
use super::inbound::Inbound;
use super::upstream::{self, Kept, UpstreamError};
use super::verdict::{Known, Rules, Verdict};
use super::Shared;
use crate::events::{Action, CoverageLabel, DeviceRef, Event, IdentityLabel, Listener, Reason, RuleRef};
use crate::host::Host;
use crate::metrics::DecisionLabels;
use crate::policy::{self, Decision, Subject};
use crate::registry::Device;
use crate::respond::BlockFacts;
use crate::state::Snapshot;

/// What a connection knows that does not change while it lives.
pub struct Ctx {
    pub shared: Arc<Shared>,
    pub snap: Arc<Snapshot>,
    pub peer: SocketAddr,
    /// The listener it came in on (`labels.listener`).
    pub listener: Listener,
    /// SHA-256 of the client certificate's DER (the HTTPS proxy port, SPEC §7).
    pub client_cert: Option<[u8; 32]>,
}

/// The connection's sockets and buffers.
pub struct Io {
    pub client: Client,
    pub inbound: Inbound,
    pub upstream: Option<Kept>,
}

impl Io {
    /// The next request head (within `header_bytes` and `header_timeout`), or `None`
    /// when the process starts draining first.
    pub async fn next_head(
        &mut self,
        limits: &crate::config::Limits,
        phase: &mut tokio::sync::watch::Receiver<super::Phase>,
    ) -> Option<Result<RequestHead, HeadError>> {
        let read = head::read(
            &mut self.inbound,
            &mut self.client,
            limits.header_bytes,
            limits.header_timeout,
        );
        tokio::select! {
            h = read => Some(h),
            _ = super::until(phase, |p| p != super::Phase::Running) => None,
        }
    }
}

/// Where a request goes.
#[derive(Debug, Clone)]
pub struct Target {
    pub host: Host,
    pub port: u16,
    /// Plain HTTP: the origin-form path and query sent upstream.
    pub path: Option<String>,
    /// Transparent mode: the original destination, dialled instead of resolving the
    /// host (never a fresh DNS answer, SPEC §6a).
    pub original: Option<SocketAddr>,
}

impl Target {
    /// `host[:port]` as in a URL (the port left out when it is 80; IPv6 in brackets).
    pub fn authority(&self) -> String {
        let host = match self.host.ip() {
            Some(std::net::IpAddr::V6(v6)) => format!("[{v6}]"),
            _ => self.host.as_str().to_owned(),
        };
        if self.port == 80 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// The identified client.
#[derive(Debug, Clone, Copy)]
pub struct Who<'s> {
    pub subject: Subject<'s>,
    /// How the device was known (`labels.identity`).
    pub identity: IdentityLabel,
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

impl Ctx {
    /// A new event for this connection, with what is known of the target and client.
    pub fn event(&self, action: Action, target: Option<&Target>, who: Option<&Who<'_>>) -> Event {
        let mut e = Event::new(action, self.peer);
        e.listener = Some(self.listener);
        e.identity = Some(who.map_or(IdentityLabel::None, |w| w.identity));
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
            policy::Action::Report => Action::Reported,
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

    /// What a block or advice page says about `event` (its policy, ruleset and rule).
    pub fn facts<'a>(&'a self, event: &'a Event, host: &'a str, action: &'a str) -> BlockFacts<'a> {
        let rule = event.rule.as_ref();
        let policy = rule.and_then(|r| self.snap.policies.iter().find(|p| p.id == r.reference));
        BlockFacts {
            event_id: &event.id,
            action,
            host,
            policy_id: policy.map_or("", |p| p.id.as_str()),
            policy_title: policy.map_or("", |p| p.title.as_str()),
            policy_reference: policy.map_or("", |p| p.reference.as_str()),
            ruleset: rule.map_or("", |r| r.ruleset.as_str()),
            rule: rule.map_or("", |r| r.id.as_str()),
            contact: &self.snap.config.contact,
        }
    }

    /// The registry device a RADIUS binding puts at the peer's address now.
    pub fn bound(&self) -> Option<crate::registry::DeviceId> {
        let device = self
            .shared
            .bindings
            .device_of(self.peer.ip(), std::time::Instant::now())?;
        self.snap.registry.by_id(&device)
    }

    /// The verdict on what is known of the target (see [`verdict`](super::verdict)).
    pub fn verdict(&self, subject: &Subject<'_>, known: &Known<'_>, now: time::OffsetDateTime) -> Verdict {
        let rules = Rules {
            policies: &self.snap.policies,
            rules: &self.snap.rules,
            require_sni_for_covered: self.snap.config.proxy.require_sni_for_covered,
        };
        rules.verdict(subject, known, now)
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
        if let Some(original) = target.original {
            return upstream::check(&self.snap, &shared.listeners, subject, vec![original], now);
        }
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

    /// Records the event (the events of refusals a full spool causes go into the
    /// spool's reserve).
    pub async fn record(&self, event: Event) {
        // The operational log line carries the event id, so operator, helpdesk and SOC
        // can line up one connection.
        tracing::debug!(peer = %self.peer, event.id = %event.id, action = event.action.as_str(), reason = event.reason.map(|r| r.as_str()), "event");
        if event.reason == Some(Reason::SpoolFull) {
            self.shared.events.record_refusal(&self.snap, event);
        } else {
            self.shared.events.record(&self.snap, event).await;
        }
    }
}

pub fn device_ref(d: &Device) -> DeviceRef {
    DeviceRef {
        id: d.id.clone(),
        organisation: d.organisation.clone(),
        owner: d.owner.clone(),
    }
}

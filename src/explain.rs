//! The explanation of one decision: for a device id and a host at a time, every
//! policy's part in the decision, computed by the same pure function as traffic
//! ([`policy::explain`](crate::policy::explain)). `slagboom explain` prints it and the
//! helpdesk page (`/helpdesk`) shows it; both read the one [`Report`].

use std::fmt::Write as _;

use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::config::UnknownDevice;
use crate::host::Host;
use crate::policy::{Explanation, Policy, Subject, Window};
use crate::registry::{Coverage, Device, Share, Status};
use crate::state::Snapshot;

/// A decision for a device and a host at a time, with every reason.
#[derive(Debug)]
pub struct Report<'a> {
    pub snap: &'a Snapshot,
    /// The device id as asked (it may not be in the registry).
    pub device_id: String,
    /// The registry row, when the id is known.
    pub device: Option<&'a Device>,
    pub host: Host,
    pub at: OffsetDateTime,
    pub explanation: Explanation,
    /// Why the device is refused before any policy: `device_retired`, `device_lost`,
    /// or `credentials_missing` for an unknown device under `unknown_device = "deny"`.
    pub refused: Option<&'static str>,
}

impl<'a> Report<'a> {
    /// Explains the decision for `device_id` and `host` at `at` under `snap`.
    pub fn new(snap: &'a Snapshot, device_id: &str, host: Host, at: OffsetDateTime) -> Report<'a> {
        let device = snap.registry.by_id(device_id).map(|d| snap.registry.device(d));
        let mode = snap.config.auth.unknown_device;
        let subject = match device {
            Some(d) => Subject::Device(d),
            None => Subject::Unknown(mode),
        };
        let explanation = snap.explain(&subject, &host, at);
        let refused = match (device, mode) {
            (Some(d), _) if d.status == Status::Retired => Some("device_retired"),
            (Some(d), _) if d.status == Status::Lost => Some("device_lost"),
            (None, UnknownDevice::Deny) => Some("credentials_missing"),
            _ => None,
        };
        Report {
            snap,
            device_id: device_id.to_owned(),
            device,
            host,
            at,
            explanation,
            refused,
        }
    }

    /// `refused` when the device is refused before any policy, else the action.
    pub fn verdict(&self) -> &'static str {
        self.refused.unwrap_or(self.explanation.decision.action.as_str())
    }

    /// The policy that decides, when one does.
    pub fn deciding_policy(&self) -> Option<&'a Policy> {
        self.explanation.decision.hit.map(|h| &self.snap.policies[h.policy])
    }

    /// Where the registry is read from, for `source` lines.
    pub fn registry_source(&self) -> String {
        registry_source(self.snap)
    }

    /// The explanation as JSON (`slagboom explain --json`, `/helpdesk/api/explain`).
    pub fn to_json(&self) -> serde_json::Value {
        let snap = self.snap;
        let e = &self.explanation;
        let hit = e.decision.hit.map(|h| {
            let p = &snap.policies[h.policy];
            json!({
                "policy": p.id, "title": p.title, "reference": p.reference,
                "ruleset": snap.rules.ruleset(h.ruleset).id, "rule": snap.rules.rule(h.rule).text,
            })
        });
        let policies: Vec<_> = e
            .policies
            .iter()
            .map(|t| {
                let p = &snap.policies[t.policy];
                json!({
                    "id": p.id,
                    "authorities": p.authorities,
                    "window": window(t.window),
                    "applies": t.applies,
                    "ruleset": t.matched.map(|m| snap.rules.ruleset(m.ruleset).id.clone()),
                    "rule": t.matched.map(|m| snap.rules.rule(m.rule).text.clone()),
                    "action": t.action.as_str(),
                    "decides": e.decision.hit.is_some_and(|h| h.policy == t.policy),
                })
            })
            .collect();
        let matches: Vec<_> = e
            .matches
            .iter()
            .map(|m| json!({"ruleset": snap.rules.ruleset(m.ruleset).id, "rule": snap.rules.rule(m.rule).text}))
            .collect();
        let source = self.registry_source();
        json!({
            "device": self.device.map(|d| device_json(d, &source)),
            "device_id": self.device_id,
            "coverage": e.decision.coverage.as_str(),
            "host": self.host.as_str(),
            "at": rfc3339(self.at),
            "matches": matches,
            "policies": policies,
            "decision": self.verdict(),
            "refused": self.refused,
            "hit": hit,
        })
    }

    /// The explanation as the lines `slagboom explain` prints.
    pub fn text(&self) -> String {
        let snap = self.snap;
        let e = &self.explanation;
        let mut out = String::new();
        let source = self.registry_source();
        // Writing to a String cannot fail.
        let mut line = |s: String| {
            out.push_str(&s);
            out.push('\n');
        };
        match self.device {
            Some(d) => {
                line(format!("device      {} ({source}:{})", d.id, d.line));
                line(format!("  authority     {}", d.authority));
                line(format!("  organisation  {}", d.organisation.as_deref().unwrap_or("-")));
                line(format!(
                    "  shares        purchase {}, subscription {}, usage {}; professional_use {}",
                    share(d.purchase),
                    share(d.subscription),
                    share(d.usage),
                    d.professional_use
                ));
                line(format!("  status        {}", status(d.status)));
            }
            None => line(format!(
                "device      {} is not in the registry: unknown device (unknown_device = {:?})",
                self.device_id, snap.config.auth.unknown_device
            )),
        }
        line(format!(
            "coverage    {} ({})",
            e.decision.coverage,
            coverage_why(e.decision.coverage)
        ));
        line(format!("host        {}", self.host.as_str()));
        line(format!("at          {}", rfc3339(self.at)));
        if e.matches.is_empty() {
            line("rulesets    no ruleset lists this host".into());
        }
        for m in &e.matches {
            line(format!(
                "ruleset     {} matches (rule {})",
                snap.rules.ruleset(m.ruleset).id,
                snap.rules.rule(m.rule).text
            ));
        }
        for t in &e.policies {
            let p = &snap.policies[t.policy];
            let mut l = format!("policy      {}: {}", p.id, window(t.window).replace('_', " "));
            if !t.applies {
                let _ = write!(l, "; does not apply (authorities {})", p.authorities.join(", "));
            } else if let Some(m) = t.matched {
                let _ = write!(
                    l,
                    "; ruleset {} matches; {} for {}",
                    snap.rules.ruleset(m.ruleset).id,
                    t.action.as_str(),
                    e.decision.coverage
                );
            } else {
                l.push_str("; none of its rulesets lists the host");
            }
            if e.decision.hit.is_some_and(|h| h.policy == t.policy) {
                l.push_str("  <- decides");
            }
            line(l);
        }
        if let Some(r) = self.refused {
            line(format!("decision    refused before any policy: {r}"));
            return out;
        }
        match e.decision.hit {
            Some(h) => {
                let p = &snap.policies[h.policy];
                line(format!(
                    "decision    {} by {} \"{}\" ({}), ruleset {}, rule {}",
                    e.decision.action.as_str(),
                    p.id,
                    p.title,
                    p.reference,
                    snap.rules.ruleset(h.ruleset).id,
                    snap.rules.rule(h.rule).text
                ));
            }
            None => line("decision    allow (no policy in force for this device lists the host)".into()),
        }
        out
    }
}

/// Where the registry is read from (a file or a URL), for `source` lines.
pub fn registry_source(snap: &Snapshot) -> String {
    match &snap.config.registry.source {
        crate::config::Source::File(p) => p.display().to_string(),
        crate::config::Source::Url(u) => u.clone(),
    }
}

/// A registry row as JSON, with the `file:line` it was read from.
pub fn device_json(d: &Device, source: &str) -> serde_json::Value {
    json!({
        "id": &*d.id, "authority": &*d.authority,
        "organisation": d.organisation.as_deref(),
        "purchase": share(d.purchase), "subscription": share(d.subscription), "usage": share(d.usage),
        "professional_use": d.professional_use,
        "status": status(d.status),
        "source": format!("{source}:{}", d.line),
    })
}

/// `none`, `partial` or `full`, as in the registry.
pub fn share(s: Share) -> &'static str {
    match s {
        Share::None => "none",
        Share::Partial => "partial",
        Share::Full => "full",
    }
}

/// `active`, `retired` or `lost`, as in the registry.
pub fn status(s: Status) -> &'static str {
    match s {
        Status::Active => "active",
        Status::Retired => "retired",
        Status::Lost => "lost",
    }
}

/// Where a policy stands: `not_yet_in_force`, `in_force`, `in_force_review_overdue`
/// or `expired`.
pub fn window(w: Window) -> &'static str {
    match w {
        Window::NotYet => "not_yet_in_force",
        Window::InForce { overdue: false } => "in_force",
        Window::InForce { overdue: true } => "in_force_review_overdue",
        Window::Expired => "expired",
    }
}

fn coverage_why(c: Coverage) -> &'static str {
    match c {
        Coverage::Covered => "the authority pays part or all of its purchase, subscription or use",
        Coverage::Advisory => "personal device used for work: advised, not banned",
        Coverage::Private => "not paid for and not used for work",
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

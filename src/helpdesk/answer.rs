//! What the helpdesk answers: one sentence on top, then the facts, for an event id or
//! for a device and a host. An [`Answer`] is built once and shown twice: as the HTML
//! page and as its JSON twin, so the two never disagree.

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::recent::Recent;
use super::text::Text;
use crate::events::{ecs, Action, Reason};
use crate::explain::{self, Report};
use crate::host::Host;
use crate::policy::{Action as PolicyAction, Policy, Window};
use crate::registry::{Coverage, Device, Share};
use crate::respond::Lang;
use crate::state::Snapshot;

/// How the answer reads at a glance (the page's colour; `outcome` in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Blocked,
    Refused,
    Warned,
    Reported,
    Allowed,
    Failed,
    /// Nothing found, or the question could not be read.
    Unanswered,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Blocked => "blocked",
            Outcome::Refused => "refused",
            Outcome::Warned => "warned",
            Outcome::Reported => "reported",
            Outcome::Allowed => "allowed",
            Outcome::Failed => "failed",
            Outcome::Unanswered => "unanswered",
        }
    }
}

/// A row of the facts table: a label (trusted, from [`Text`]) and a value (untrusted).
pub type Fact = (&'static str, String);

/// One policy's part in a decision (a row of `slagboom explain`'s trace).
#[derive(Debug)]
pub struct TraceRow {
    pub policy: String,
    /// `in_force`, `expired`, … ([`explain::window`]).
    pub window: &'static str,
    pub applies: bool,
    /// `ruleset / rule` when one of its rulesets lists the host, else empty.
    pub rule: String,
    pub action: &'static str,
    pub decides: bool,
}

/// One answer, shown as HTML or JSON.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status: 200, 400 for a question that cannot be read, 404 for an event
    /// no longer (or never) kept.
    pub status: u16,
    pub outcome: Outcome,
    /// The one sentence, plain text in the page's language.
    pub sentence: String,
    pub facts: Vec<Fact>,
    /// Every policy's part in the decision.
    pub trace: Vec<TraceRow>,
    /// Shown above the facts when they are today's and not the event's.
    pub notice: Option<&'static str>,
    pub json: Value,
}

/// The answer for an event id (untrusted input, shown escaped).
pub fn event(snap: &Snapshot, recent: &Recent, id: &str, lang: Lang) -> Answer {
    let t = Text::of(lang);
    let Some(event) = recent.get(id) else {
        let sentence = fill(
            t.not_found,
            &[
                ("id", id),
                ("count", &recent.len().to_string()),
                ("observer", &snap.config.proxy.name),
            ],
        );
        let json = json!({
            "found": false, "event_id": id, "summary": sentence,
            "recent_events": recent.len(), "observer": &*snap.config.proxy.name,
        });
        return unanswered(404, sentence, json);
    };
    let e = &*event;
    let device = e
        .device
        .as_ref()
        .and_then(|d| snap.registry.by_id(&d.id))
        .map(|i| snap.registry.device(i));
    let policy = e
        .rule
        .as_ref()
        .and_then(|r| snap.policies.iter().find(|p| p.id == r.reference));
    let host = e
        .destination_domain
        .clone()
        .or_else(|| e.server_name.clone())
        .or_else(|| e.destination_ip.map(|ip| ip.to_string()))
        .unwrap_or_default();
    let device_id = e.device.as_ref().map(|d| d.id.to_string()).unwrap_or_default();
    let at = OffsetDateTime::from(e.timestamp);
    let source = e.source.ip().to_string();
    let said = Said {
        source: Some(&source),
        t,
        host: &host,
        device_id: &device_id,
        device,
        organisation: e.device.as_ref().and_then(|d| d.organisation.as_deref()),
        policy,
        at,
    };
    let (outcome, template) = match (e.action, e.reason) {
        (Action::Blocked, Some(Reason::DomainFronting)) => (Outcome::Blocked, t.fronting),
        (Action::Blocked, Some(Reason::SniRequired)) => (Outcome::Blocked, t.sni_required),
        (Action::Blocked, _) if e.device.is_none() => (Outcome::Blocked, t.blocked_unknown),
        (Action::Blocked, _) => (Outcome::Blocked, t.blocked),
        (Action::Advised, _) => (Outcome::Warned, t.advised),
        (Action::Reported, _) => (Outcome::Reported, t.reported),
        (Action::Refused, Some(Reason::DeviceRetired)) => (Outcome::Refused, t.refused_retired),
        (Action::Refused, Some(Reason::DeviceLost)) => (Outcome::Refused, t.refused_lost),
        (Action::Refused, Some(Reason::PortNotAllowed)) => (Outcome::Refused, t.refused_port),
        (Action::Refused, Some(Reason::DestinationProhibited)) => (Outcome::Refused, t.refused_destination),
        (Action::Refused, _) => (Outcome::Refused, t.refused_busy),
        (Action::AuthFailed, Some(Reason::CredentialsMissing)) => (Outcome::Refused, t.auth_missing),
        (Action::AuthFailed, Some(Reason::RateLimited)) => (Outcome::Refused, t.auth_rate),
        (Action::AuthFailed, _) => (Outcome::Refused, t.auth_invalid),
        (_, Some(Reason::UpstreamDnsFailed | Reason::UpstreamConnectFailed | Reason::UpstreamTimeout)) => {
            (Outcome::Failed, t.upstream)
        }
        _ => (Outcome::Failed, t.unreadable),
    };
    let sentence = said.sentence(
        template,
        &[
            ("port", e.destination_port.map(|p| p.to_string()).unwrap_or_default()),
            ("ip", e.source.ip().to_string()),
            (
                "code",
                e.reason.map(Reason::as_str).unwrap_or(e.action.as_str()).to_owned(),
            ),
            ("coverage", e.coverage.as_str().to_owned()),
        ],
    );

    let l = &t.labels;
    let mut facts: Vec<Fact> = vec![
        (l.event_id, e.id.clone()),
        (l.time, clock(at)),
        (l.decision, e.action.as_str().to_owned()),
    ];
    if let Some(r) = e.reason {
        facts.push((l.reason, r.as_str().to_owned()));
    }
    push_device(&mut facts, t, &device_id, device, said.organisation);
    facts.push((l.coverage, e.coverage.as_str().to_owned()));
    if !host.is_empty() {
        let port = e.destination_port.map(|p| format!(":{p}")).unwrap_or_default();
        facts.push((l.host, format!("{host}{port}")));
    }
    if let Some(url) = &e.url {
        facts.push(("URL", url.clone()));
    }
    if let Some(r) = &e.rule {
        facts.push((l.policy, policy_name(t, policy, &r.reference)));
        if let Some(p) = policy {
            facts.push((l.reference, p.reference.clone()));
        }
        facts.push((l.ruleset, format!("{} ({})", r.ruleset, r.name)));
        facts.push((l.rule, r.id.clone()));
    }
    let mut connection = Vec::new();
    connection.extend(e.listener.map(|x| x.as_str()));
    connection.extend(e.identity.map(|x| x.as_str()));
    if e.intercepted {
        connection.push("intercepted");
    }
    if e.acknowledged {
        connection.push("acknowledged");
    }
    if !connection.is_empty() {
        facts.push((l.connection, connection.join(", ")));
    }
    facts.push((l.source, e.source.ip().to_string()));
    let then = e.policy_version.as_deref().unwrap_or("");
    let now = &*snap.policy_version;
    let changed = !then.is_empty() && then != now;
    facts.push((
        l.version,
        if changed {
            format!("{then} (now {now})")
        } else {
            then.to_owned()
        },
    ));

    // The same question asked of today's configuration, at the event's time: the
    // policy trace below, and a check that today's rules still agree.
    // (A device the registry does not name is asked about as an unknown device.)
    let report = Host::parse(&host).ok().map(|h| Report::new(snap, &device_id, h, at));
    let trace = report.as_ref().map(trace_rows).unwrap_or_default();
    let mut ecs_line = Vec::with_capacity(768);
    ecs::encode(e, &mut ecs_line);
    let ecs_json: Value = serde_json::from_slice(&ecs_line).unwrap_or(Value::Null);
    let json = json!({
        "found": true,
        "event_id": e.id,
        "summary": sentence,
        "outcome": outcome.as_str(),
        "event": ecs_json,
        "policy": policy.map(policy_json),
        "device": device.map(|d| explain::device_json(d, &explain::registry_source(snap))),
        "policy_version": then,
        "policy_version_now": now,
        "configuration_changed": changed,
        "explain": report.as_ref().map(Report::to_json),
    });
    Answer {
        status: 200,
        outcome,
        sentence,
        facts,
        trace,
        notice: changed.then_some(l.changed),
        json,
    }
}

/// The answer for a device id and a host, now or at `at` (RFC 3339, or
/// `YYYY-MM-DDTHH:MM[:SS]` read as UTC).
pub fn explain(snap: &Snapshot, device_id: &str, host: &str, at: Option<&str>, lang: Lang) -> Answer {
    let t = Text::of(lang);
    let input = format!("{device_id} {host} {}", at.unwrap_or("")).trim().to_owned();
    let Ok((host, _)) = Host::parse_authority(host) else {
        return invalid(&input, lang);
    };
    let at = match at.map(str::trim).filter(|s| !s.is_empty()) {
        None => OffsetDateTime::now_utc(),
        Some(s) => match parse_time(s) {
            Some(at) => at,
            None => return invalid(&input, lang),
        },
    };
    if device_id.is_empty() || device_id.len() > 256 {
        return invalid(&input, lang);
    }
    let report = Report::new(snap, device_id, host, at);
    let e = &report.explanation;
    let policy = report.deciding_policy();
    let said = Said {
        t,
        host: report.host.as_str(),
        device_id,
        device: report.device,
        organisation: report.device.and_then(|d| d.organisation.as_deref()),
        policy,
        at,
        source: None,
    };
    let coverage = e.decision.coverage.as_str().to_owned();
    let (outcome, template, policy) = match (report.refused, e.decision.action) {
        (Some("device_retired"), _) => (Outcome::Refused, t.refused_retired, None),
        (Some("device_lost"), _) => (Outcome::Refused, t.refused_lost, None),
        (Some(_), _) => (Outcome::Refused, t.refused_unknown, None),
        (None, PolicyAction::Block) if report.device.is_none() => (Outcome::Blocked, t.blocked_unknown, policy),
        (None, PolicyAction::Block) => (Outcome::Blocked, t.blocked, policy),
        (None, PolicyAction::Warn) => (Outcome::Warned, t.advised, policy),
        (None, PolicyAction::Report) => (Outcome::Reported, t.reported, policy),
        (None, PolicyAction::Allow) => {
            let traces = || e.policies.iter().filter(|p| p.applies && p.matched.is_some());
            let in_force = traces().find(|p| matches!(p.window, Window::InForce { .. }));
            let dormant = traces().next();
            match (in_force, dormant) {
                _ if e.decision.coverage == Coverage::Private && report.device.is_some() => {
                    (Outcome::Allowed, t.allowed_private, None)
                }
                _ if e.matches.is_empty() => (Outcome::Allowed, t.allowed_unlisted, None),
                (Some(p), _) => (Outcome::Allowed, t.allowed_by_policy, Some(&snap.policies[p.policy])),
                (None, Some(p)) => (Outcome::Allowed, t.allowed_not_in_force, Some(&snap.policies[p.policy])),
                (None, None) => (Outcome::Allowed, t.allowed_other, None),
            }
        }
    };
    let said = Said { policy, ..said };
    let sentence = said.sentence(template, &[("coverage", coverage.clone())]);

    let l = &t.labels;
    let mut facts: Vec<Fact> = vec![(l.time, clock(at))];
    push_device(&mut facts, t, device_id, report.device, said.organisation);
    facts.push((l.coverage, coverage));
    facts.push((l.host, report.host.as_str().to_owned()));
    facts.push((l.decision, report.verdict().to_owned()));
    if let Some(h) = e.decision.hit {
        let p = &snap.policies[h.policy];
        facts.push((l.policy, policy_name(t, Some(p), &p.id)));
        facts.push((l.reference, p.reference.clone()));
        let rs = snap.rules.ruleset(h.ruleset);
        facts.push((l.ruleset, format!("{} ({})", rs.id, rs.title)));
        facts.push((l.rule, snap.rules.rule(h.rule).text.clone()));
    }
    facts.push((l.version, snap.policy_version.to_string()));
    let json = json!({
        "summary": sentence,
        "outcome": outcome.as_str(),
        "policy": said.policy.map(policy_json),
        "policy_version": &*snap.policy_version,
        "explain": report.to_json(),
    });
    Answer {
        status: 200,
        outcome,
        sentence,
        facts,
        trace: trace_rows(&report),
        notice: None,
        json,
    }
}

/// The answer to a question that is neither an event id nor a device and a host.
pub fn invalid(input: &str, lang: Lang) -> Answer {
    let sentence = fill(Text::of(lang).invalid, &[("input", input)]);
    let json = json!({"error": "bad_request", "summary": sentence});
    unanswered(400, sentence, json)
}

fn unanswered(status: u16, sentence: String, json: Value) -> Answer {
    Answer {
        status,
        outcome: Outcome::Unanswered,
        sentence,
        facts: Vec::new(),
        trace: Vec::new(),
        notice: None,
        json,
    }
}

/// The facts a sentence is made of.
struct Said<'a> {
    t: &'static Text,
    host: &'a str,
    device_id: &'a str,
    device: Option<&'a Device>,
    organisation: Option<&'a str>,
    policy: Option<&'a Policy>,
    at: OffsetDateTime,
    /// The source address of an event, for a device the registry does not name.
    source: Option<&'a str>,
}

impl Said<'_> {
    fn sentence(&self, template: &str, extra: &[(&str, String)]) -> String {
        let t = self.t;
        let device = match (self.device_id, self.source) {
            ("", Some(ip)) => fill(t.device_at, &[("ip", ip)]),
            (id, _) => fill(t.device, &[("id", id)]),
        };
        let policy = self.policy.map(|p| policy_name(t, Some(p), &p.id)).unwrap_or_default();
        let reference = self.policy.map(|p| p.reference.as_str()).unwrap_or_default();
        // A device gone from the registry since: the policy's authorities stand in.
        let authorities = self.policy.map(|p| p.authorities.join(", ")).unwrap_or_default();
        let authority = self.device.map_or(authorities.as_str(), |d| &*d.authority);
        let funding = self.funding();
        let at = clock(self.at);
        let mut pairs: Vec<(&str, &str)> = vec![
            ("device", &device),
            ("host", self.host),
            ("policy", &policy),
            ("reference", reference),
            ("authority", authority),
            ("funding", &funding),
            ("at", &at),
        ];
        pairs.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
        fill(template, &pairs)
    }

    /// "bought by FPS Finance and used at the expense of …", from the registry row.
    fn funding(&self) -> String {
        let t = self.t;
        let org = self
            .organisation
            .or(self.device.map(|d| &*d.authority))
            .unwrap_or_default();
        let Some(d) = self.device else {
            return fill(t.funded, &[("org", org)]);
        };
        let parts: Vec<String> = [d.purchase, d.subscription, d.usage]
            .into_iter()
            .zip(t.funding)
            .filter_map(|(share, words)| match share {
                Share::Full => Some(fill(words[0], &[("org", org)])),
                Share::Partial => Some(fill(words[1], &[("org", org)])),
                Share::None => None,
            })
            .collect();
        if parts.is_empty() {
            return fill(t.funded, &[("org", org)]);
        }
        parts.join(t.and)
    }
}

/// `template` with each `{name}` replaced by its value, in one pass (a value that
/// contains braces is never read as a placeholder). Unknown names stay as they are.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}').map(|close| (&after[..close], close)) {
            Some((name, close)) if values.iter().any(|(k, _)| *k == name) => {
                let value = values.iter().find(|(k, _)| *k == name).map_or("", |(_, v)| v);
                out.push_str(value);
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn policy_name(t: &Text, policy: Option<&Policy>, id: &str) -> String {
    let title = policy.map(|p| p.title.as_str()).filter(|s| !s.is_empty()).unwrap_or(id);
    format!("{}{title}{}", t.quotes.0, t.quotes.1)
}

fn push_device(facts: &mut Vec<Fact>, t: &Text, id: &str, device: Option<&Device>, organisation: Option<&str>) {
    let l = &t.labels;
    if id.is_empty() {
        return;
    }
    match device {
        Some(d) => {
            facts.push((l.device, id.to_owned()));
            facts.push((l.organisation, organisation.unwrap_or("-").to_owned()));
            facts.push((l.authority, d.authority.to_string()));
            facts.push((
                l.funding,
                format!(
                    "purchase {}, subscription {}, usage {}; professional_use {}",
                    explain::share(d.purchase),
                    explain::share(d.subscription),
                    explain::share(d.usage),
                    d.professional_use
                ),
            ));
            facts.push((l.status, explain::status(d.status).to_owned()));
        }
        None => facts.push((l.device, format!("{id} ({})", l.unknown_device))),
    }
}

fn trace_rows(report: &Report<'_>) -> Vec<TraceRow> {
    let snap = report.snap;
    let e = &report.explanation;
    e.policies
        .iter()
        .map(|t| {
            let p = &snap.policies[t.policy];
            let rule = t
                .matched
                .map(|m| {
                    format!(
                        "{} / {}",
                        snap.rules.ruleset(m.ruleset).id,
                        snap.rules.rule(m.rule).text
                    )
                })
                .unwrap_or_default();
            TraceRow {
                policy: p.id.clone(),
                window: explain::window(t.window),
                applies: t.applies,
                rule,
                action: t.action.as_str(),
                decides: e.decision.hit.is_some_and(|h| h.policy == t.policy),
            }
        })
        .collect()
}

fn policy_json(p: &Policy) -> Value {
    json!({"id": p.id, "title": p.title, "reference": p.reference, "authorities": p.authorities})
}

/// `2026-03-10 09:42:07 UTC`.
fn clock(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// RFC 3339, or a `datetime-local` value (`YYYY-MM-DDTHH:MM[:SS]`) read as UTC.
pub fn parse_time(s: &str) -> Option<OffsetDateTime> {
    if s.len() > 64 {
        return None;
    }
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    let with_seconds;
    let s = if s.len() == 16 {
        with_seconds = format!("{s}:00");
        &with_seconds
    } else {
        s
    };
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    PrimitiveDateTime::parse(s, &format)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_replaces_in_one_pass() {
        assert_eq!(fill("{a} and {b}", &[("a", "{b}"), ("b", "x")]), "{b} and x");
        assert_eq!(fill("{unknown} {a", &[("a", "1")]), "{unknown} {a");
        assert_eq!(fill("", &[]), "");
        assert_eq!(fill("{}{a}}", &[("a", "é")]), "{}é}");
    }

    #[test]
    fn times_are_rfc3339_or_a_form_value_in_utc() {
        let t = parse_time("2023-03-10T09:00:00+01:00").unwrap();
        assert_eq!(clock(t), "2023-03-10 08:00:00 UTC");
        assert_eq!(
            clock(parse_time("2023-03-10T09:00").unwrap()),
            "2023-03-10 09:00:00 UTC"
        );
        assert_eq!(
            clock(parse_time("2023-03-10T09:00:07").unwrap()),
            "2023-03-10 09:00:07 UTC"
        );
        for bad in ["", "yesterday", "2023-03-10", "2023-13-10T09:00", &"9".repeat(100)] {
            assert!(parse_time(bad).is_none(), "{bad}");
        }
    }
}

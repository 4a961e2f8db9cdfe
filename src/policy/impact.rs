//! Dry-run impact of a change (SPEC §14): recorded events replayed under two
//! configurations, counting what would change. It streams: each event is read, decided
//! twice and dropped; what is kept grows with the distinct devices, hosts, policies and
//! rules seen, never with the number of events.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::io::BufRead;

use serde::Deserialize;
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{decide, Subject};
use crate::host::Host;
use crate::registry::Status;
use crate::state::Snapshot;

/// Examples kept per row.
const EXAMPLES: usize = 5;

/// The few fields of an ECS event a replay needs (borrowed from the line).
#[derive(Debug, Deserialize)]
struct Line<'a> {
    #[serde(rename = "@timestamp", borrow)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    device: Option<Id<'a>>,
    #[serde(default, borrow)]
    tls: Option<Tls<'a>>,
    #[serde(default, borrow)]
    destination: Option<Destination<'a>>,
}

#[derive(Debug, Deserialize)]
struct Id<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
struct Tls<'a> {
    #[serde(borrow)]
    client: Option<Client<'a>>,
}

#[derive(Debug, Deserialize)]
struct Client<'a> {
    #[serde(borrow)]
    server_name: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
struct Destination<'a> {
    #[serde(borrow)]
    domain: Option<Cow<'a, str>>,
}

/// One row of the report: a change, and who and what it touches.
#[derive(Debug, Default)]
struct Row {
    events: u64,
    devices: HashSet<String>,
    hosts: HashSet<String>,
    examples: Vec<(String, String)>,
}

impl Row {
    fn add(&mut self, device: &str, host: &str) {
        self.events += 1;
        if !self.devices.contains(device) {
            self.devices.insert(device.to_owned());
        }
        if !self.hosts.contains(host) {
            self.hosts.insert(host.to_owned());
        }
        if self.examples.len() < EXAMPLES && !self.examples.iter().any(|(d, h)| d == device && h == host) {
            self.examples.push((device.to_owned(), host.to_owned()));
        }
    }

    fn json(&self) -> Value {
        json!({
            "events": self.events,
            "devices": self.devices.len(),
            "hosts": self.hosts.len(),
            "examples": self.examples.iter().map(|(d, h)| json!({"device": d, "host": h})).collect::<Vec<_>>(),
        })
    }
}

/// The report.
#[derive(Debug, Default)]
pub struct Impact {
    pub read: u64,
    /// Events without a device or a host (or with a time or host that does not parse).
    pub skipped: u64,
    pub unchanged: u64,
    /// Lines that are not ECS JSON.
    pub malformed: u64,
    by_action: BTreeMap<(String, String), Row>,
    by_policy: BTreeMap<(String, String), Row>,
    by_rule: BTreeMap<(String, String), Row>,
}

/// An outcome under one configuration: the action and the deciding policy and rule.
fn outcome(snap: &Snapshot, device: &str, host: &Host, at: OffsetDateTime) -> (String, String, String) {
    let subject = match snap.registry.by_id(device) {
        Some(id) => {
            let d = snap.registry.device(id);
            if matches!(d.status, Status::Retired | Status::Lost) {
                return ("refuse".into(), String::new(), String::new());
            }
            Subject::Device(d)
        }
        None => Subject::Unknown(snap.config.auth.unknown_device),
    };
    let d = decide(&snap.policies, &snap.rules, &subject, host, at);
    match d.hit {
        Some(h) => {
            let rs = snap.rules.ruleset(h.ruleset);
            (
                d.action.as_str().to_owned(),
                snap.policies[h.policy].id.clone(),
                format!("{}/{}", rs.id, snap.rules.rule(h.rule).text),
            )
        }
        None => (d.action.as_str().to_owned(), String::new(), String::new()),
    }
}

impl Impact {
    /// Replays every line of `events` under `from` and `to`.
    ///
    /// # Errors
    ///
    /// A read error of `events`.
    pub fn replay(from: &Snapshot, to: &Snapshot, events: impl BufRead) -> std::io::Result<Impact> {
        let mut impact = Impact::default();
        for line in events.split(b'\n') {
            let line = line?;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            impact.read += 1;
            impact.one(from, to, &line);
        }
        Ok(impact)
    }

    fn one(&mut self, from: &Snapshot, to: &Snapshot, line: &[u8]) {
        let Ok(e) = serde_json::from_slice::<Line<'_>>(line) else {
            self.malformed += 1;
            return;
        };
        let device = e.device.and_then(|d| d.id);
        let host = e
            .tls
            .and_then(|t| t.client)
            .and_then(|c| c.server_name)
            .or(e.destination.and_then(|d| d.domain));
        let at = e
            .timestamp
            .and_then(|t| OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).ok());
        let (Some(device), Some(host), Some(at)) = (device, host, at) else {
            self.skipped += 1;
            return;
        };
        let Ok(host) = Host::parse(&host) else {
            self.skipped += 1;
            return;
        };
        let device: &str = &device;
        let old = outcome(from, device, &host, at);
        let new = outcome(to, device, &host, at);
        if old == new {
            self.unchanged += 1;
            return;
        }
        let h = host.as_str();
        self.by_action
            .entry((old.0.clone(), new.0.clone()))
            .or_default()
            .add(device, h);
        let distinct = |a: &String, b: &String| {
            if a == b {
                vec![a.clone()]
            } else {
                vec![a.clone(), b.clone()]
            }
        };
        for policy in distinct(&old.1, &new.1) {
            if !policy.is_empty() {
                self.by_policy
                    .entry((policy, format!("{} -> {}", old.0, new.0)))
                    .or_default()
                    .add(device, h);
            }
        }
        for rule in distinct(&old.2, &new.2) {
            if !rule.is_empty() {
                self.by_rule
                    .entry((rule, format!("{} -> {}", old.0, new.0)))
                    .or_default()
                    .add(device, h);
            }
        }
    }

    /// Events whose decision would change.
    pub fn changed(&self) -> u64 {
        self.by_action.values().map(|r| r.events).sum()
    }

    /// The report as one JSON object.
    pub fn json(&self) -> Value {
        let rows = |m: &BTreeMap<(String, String), Row>, a: &str, b: &str| -> Vec<Value> {
            m.iter()
                .map(|((x, y), r)| {
                    let mut v = r.json();
                    v[a] = json!(x);
                    v[b] = json!(y);
                    v
                })
                .collect()
        };
        json!({
            "events": self.read,
            "changed": self.changed(),
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "malformed": self.malformed,
            "by_action": rows(&self.by_action, "from", "to"),
            "by_policy": rows(&self.by_policy, "policy", "change"),
            "by_rule": rows(&self.by_rule, "rule", "change"),
        })
    }

    /// The report as text tables.
    pub fn text(&self) -> String {
        let mut out = format!(
            "{} events: {} would change, {} unchanged, {} skipped (no device or host), {} malformed\n",
            self.read,
            self.changed(),
            self.unchanged,
            self.skipped,
            self.malformed
        );
        let table = |out: &mut String, title: &str, m: &BTreeMap<(String, String), Row>, join: &str| {
            if m.is_empty() {
                return;
            }
            out.push_str(&format!("\n{title}\n"));
            for ((a, b), r) in m {
                out.push_str(&format!(
                    "  {a}{join}{b}: {} events, {} devices, {} hosts\n",
                    r.events,
                    r.devices.len(),
                    r.hosts.len()
                ));
                for (d, h) in &r.examples {
                    out.push_str(&format!("      e.g. {d} {h}\n"));
                }
            }
        };
        table(&mut out, "by action", &self.by_action, " -> ");
        table(&mut out, "by policy", &self.by_policy, ": ");
        table(&mut out, "by rule", &self.by_rule, ": ");
        out
    }
}

//! ArcSight Common Event Format (CEF:0).
//!
//! `CEF:0|slagboom|slagboom|VERSION|SIGNATURE|NAME|SEVERITY|EXTENSION`. Header fields
//! escape `\` and `|`; extension values escape `\`, `=` and line breaks (`\n`, `\r`).
//! Severity: 7 blocked, 5 refused and auth_failed, 3 error and advised, 1 allowed.
//!
//! Extension keys: `rt` (ms since the epoch), `act` (event.action), `outcome`, `reason`,
//! `src`/`spt`, `dst`/`dpt`, `dhost` (destination.domain), `requestMethod`, `request`
//! (plain HTTP only), `suser` (user.id), `deviceExternalId` (device.id), `out` (bytes
//! from the client), `in` (bytes from the destination), `cs1`..`cs6` labelled `policy`,
//! `ruleset`, `rule`, `coverage`, `organisation`, `sni`, `externalId` (event.id),
//! `dvchost` (observer.name).

use std::time::UNIX_EPOCH;

use crate::events::{Action, Event};

/// The severity of an action.
pub fn severity(action: Action) -> u8 {
    match action {
        Action::Blocked => 7,
        Action::Refused | Action::AuthFailed | Action::Reported => 5,
        Action::Error | Action::Advised => 3,
        Action::Allowed | Action::Bound | Action::Unbound | Action::ConfigChanged => 1,
    }
}

/// Appends one CEF message (no newline).
pub fn encode(e: &Event, out: &mut Vec<u8>) {
    out.extend_from_slice(b"CEF:0|slagboom|slagboom|");
    header(out, env!("CARGO_PKG_VERSION"));
    out.push(b'|');
    header(out, e.action.as_str());
    out.push(b'|');
    let name = match (&e.reason, &e.rule) {
        (Some(r), _) => format!("{} ({})", e.action.as_str(), r.as_str()),
        (None, Some(rule)) => format!("{} ({})", e.action.as_str(), rule.ruleset),
        (None, None) => e.action.as_str().to_owned(),
    };
    header(out, &name);
    out.push(b'|');
    out.extend_from_slice(severity(e.action).to_string().as_bytes());
    out.push(b'|');
    let mut x = Ext { out, first: true };
    let ms = e
        .timestamp
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    x.put("rt", &ms.to_string());
    x.put("act", e.action.as_str());
    x.put("outcome", e.action.outcome());
    if let Some(r) = e.reason {
        x.put("reason", r.as_str());
    }
    x.put("src", &e.source.ip().to_string());
    x.put("spt", &e.source.port().to_string());
    if let Some(ip) = e.destination_ip {
        x.put("dst", &ip.to_string());
    }
    if let Some(p) = e.destination_port {
        x.put("dpt", &p.to_string());
    }
    if let Some(d) = &e.destination_domain {
        x.put("dhost", d);
    }
    if let Some(m) = &e.method {
        x.put("requestMethod", m);
    }
    if let (true, Some(u)) = (e.http, &e.url) {
        x.put("request", u);
    }
    if let Some(d) = &e.device {
        if let Some(o) = &d.owner {
            x.put("suser", o);
        }
        x.put("deviceExternalId", &d.id);
    }
    if let Some(b) = e.source_bytes {
        x.put("out", &b.to_string());
    }
    if let Some(b) = e.destination_bytes {
        x.put("in", &b.to_string());
    }
    let labelled = [
        ("cs1", "policy", e.rule.as_ref().map(|r| r.reference.as_str())),
        ("cs2", "ruleset", e.rule.as_ref().map(|r| r.ruleset.as_str())),
        ("cs3", "rule", e.rule.as_ref().map(|r| r.id.as_str())),
        ("cs4", "coverage", Some(e.coverage.as_str())),
        (
            "cs5",
            "organisation",
            e.device.as_ref().and_then(|d| d.organisation.as_deref()),
        ),
        ("cs6", "sni", e.server_name.as_deref()),
    ];
    for (key, label, value) in labelled {
        if let Some(v) = value {
            x.put(&format!("{key}Label"), label);
            x.put(key, v);
        }
    }
    x.put("externalId", &e.id);
    if !e.observer.is_empty() {
        x.put("dvchost", &e.observer);
    }
}

/// Header field: `\` and `|` escaped, line breaks flattened to spaces.
fn header(out: &mut Vec<u8>, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.extend_from_slice(b"\\\\"),
            '|' => out.extend_from_slice(b"\\|"),
            '\r' | '\n' => out.push(b' '),
            c => push_char(out, c),
        }
    }
}

struct Ext<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl Ext<'_> {
    /// `key=value`, the value escaped (`\`, `=`, line breaks).
    fn put(&mut self, key: &str, value: &str) {
        if !self.first {
            self.out.push(b' ');
        }
        self.first = false;
        self.out.extend_from_slice(key.as_bytes());
        self.out.push(b'=');
        for c in value.chars() {
            match c {
                '\\' => self.out.extend_from_slice(b"\\\\"),
                '=' => self.out.extend_from_slice(b"\\="),
                '\n' => self.out.extend_from_slice(b"\\n"),
                '\r' => self.out.extend_from_slice(b"\\r"),
                c => push_char(self.out, c),
            }
        }
    }
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

#[cfg(test)]
mod tests;

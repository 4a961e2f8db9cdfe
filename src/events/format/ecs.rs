//! Encodes an [`Event`] as one line of Elastic Common Schema JSON.
//!
//! Fields are written in a fixed order from the names in [`fields`]; dotted names become
//! nested objects as ECS writes them. Unknown values are omitted, never null.

use std::net::IpAddr;

use crate::events::fields as f;
use crate::events::Event;

/// Appends the event as one JSON line (with the trailing newline) to `out`.
pub fn encode(event: &Event, out: &mut Vec<u8>) {
    let mut w = Nested::new(out);
    let ts = humantime::format_rfc3339_millis(event.timestamp).to_string();
    w.str(f::TIMESTAMP, &ts);
    w.str(f::ECS_VERSION, f::ECS_VERSION_VALUE);
    w.str(f::EVENT_ID, &event.id);
    w.str(f::EVENT_KIND, "event");
    w.raw(f::EVENT_CATEGORY, "[\"network\",\"web\"]");
    let first = if event.http { "access" } else { "connection" };
    let types = format!("[\"{first}\",\"{}\"]", event.action.event_type());
    w.raw(f::EVENT_TYPE, &types);
    w.str(f::EVENT_ACTION, event.action.as_str());
    w.str(f::EVENT_OUTCOME, event.action.outcome());
    if let Some(r) = event.reason {
        w.str(f::EVENT_REASON, r.as_str());
    }
    if let Some(d) = event.duration {
        w.num(f::EVENT_DURATION, u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }
    w.ip(f::SOURCE_IP, event.source.ip());
    w.num(f::SOURCE_PORT, u64::from(event.source.port()));
    if let Some(b) = event.source_bytes {
        w.num(f::SOURCE_BYTES, b);
    }
    if let Some(d) = &event.destination_domain {
        w.str(f::DESTINATION_DOMAIN, d);
    }
    if let Some(ip) = event.destination_ip {
        w.ip(f::DESTINATION_IP, ip);
    }
    if let Some(p) = event.destination_port {
        w.num(f::DESTINATION_PORT, u64::from(p));
    }
    if let Some(b) = event.destination_bytes {
        w.num(f::DESTINATION_BYTES, b);
    }
    if let Some(s) = &event.server_name {
        w.str(f::TLS_SERVER_NAME, s);
    }
    if let Some(m) = &event.method {
        w.str(f::HTTP_METHOD, m);
    }
    if let Some(s) = event.status_code {
        w.num(f::HTTP_STATUS, u64::from(s));
    }
    if let Some(u) = &event.url {
        w.str(f::URL_ORIGINAL, u);
    }
    if let Some(d) = &event.device {
        w.str(f::DEVICE_ID, &d.id);
        if let Some(o) = &d.organisation {
            w.str(f::ORGANIZATION_NAME, o);
        }
        if let Some(o) = &d.owner {
            w.str(f::USER_ID, o);
        }
    }
    if let Some(r) = &event.rule {
        w.str(f::RULE_ID, &r.id);
        w.str(f::RULE_NAME, &r.name);
        w.str(f::RULE_RULESET, &r.ruleset);
        w.str(f::RULE_REFERENCE, &r.reference);
    }
    w.str(f::OBSERVER_NAME, &event.observer);
    w.str(f::OBSERVER_TYPE, "proxy");
    w.str(f::OBSERVER_PRODUCT, "slagboom");
    w.str(f::LABELS_COVERAGE, event.coverage.as_str());
    if event.ech {
        w.str(f::LABELS_ECH, "true");
    }
    w.finish();
}

/// Writes dotted keys as nested JSON objects. Keys sharing a prefix must be consecutive.
struct Nested<'a> {
    out: &'a mut Vec<u8>,
    /// Open object path (segments of the last key, minus its leaf).
    path: Vec<&'static str>,
    /// Whether the innermost open object already has a member.
    has_member: Vec<bool>,
}

impl<'a> Nested<'a> {
    fn new(out: &'a mut Vec<u8>) -> Nested<'a> {
        out.push(b'{');
        Nested {
            out,
            path: Vec::new(),
            has_member: vec![false],
        }
    }

    fn key(&mut self, key: &'static str) {
        let mut segments: Vec<&'static str> = if key.starts_with('@') {
            vec![key]
        } else {
            key.split('.').collect()
        };
        let leaf = segments.pop().unwrap_or(key);
        let common = self.path.iter().zip(&segments).take_while(|(a, b)| a == b).count();
        while self.path.len() > common {
            self.path.pop();
            self.has_member.pop();
            self.out.push(b'}');
        }
        for seg in &segments[common..] {
            self.comma();
            escape_str(self.out, seg);
            self.out.extend_from_slice(b":{");
            self.path.push(seg);
            self.has_member.push(false);
        }
        self.comma();
        escape_str(self.out, leaf);
        self.out.push(b':');
    }

    fn comma(&mut self) {
        if let Some(has) = self.has_member.last_mut() {
            if *has {
                self.out.push(b',');
            }
            *has = true;
        }
    }

    fn str(&mut self, key: &'static str, value: &str) {
        self.key(key);
        escape_str(self.out, value);
    }

    fn raw(&mut self, key: &'static str, value: &str) {
        self.key(key);
        self.out.extend_from_slice(value.as_bytes());
    }

    fn num(&mut self, key: &'static str, value: u64) {
        self.key(key);
        self.out.extend_from_slice(value.to_string().as_bytes());
    }

    fn ip(&mut self, key: &'static str, ip: IpAddr) {
        self.key(key);
        self.out.push(b'"');
        self.out.extend_from_slice(ip.to_string().as_bytes());
        self.out.push(b'"');
    }

    fn finish(self) {
        for _ in &self.path {
            self.out.push(b'}');
        }
        self.out.extend_from_slice(b"}\n");
    }
}

/// Appends `s` as a JSON string literal.
pub fn escape_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f | 0x7f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests;

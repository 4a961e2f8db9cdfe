//! Encodes an [`Event`] as one line of Elastic Common Schema JSON.
//!
//! Fields are written in a fixed order from the names in [`fields`](crate::events::fields); dotted names become
//! nested objects as ECS writes them. Unknown values are omitted, never null.

use std::io::Write as _;
use std::net::IpAddr;

use crate::events::fields as f;
use crate::events::{Action, CoverageLabel, DeviceRef, Event, IdentityLabel, Listener, Reason, RuleRef};
use crate::registry::Coverage;

/// Appends the event as one JSON line (with the trailing newline) to `out`.
pub fn encode(event: &Event, out: &mut Vec<u8>) {
    let mut w = Nested::new(out);
    w.key(f::TIMESTAMP);
    let _ = write!(w.out, "\"{}\"", humantime::format_rfc3339_millis(event.timestamp));
    w.str(f::ECS_VERSION, f::ECS_VERSION_VALUE);
    w.str(f::EVENT_ID, &event.id);
    w.str(f::EVENT_KIND, "event");
    let session = event.action.is_session();
    // A configuration coming into force is no connection: no source, no coverage.
    let config = event.action == Action::ConfigChanged;
    if config {
        w.raw(f::EVENT_CATEGORY, "[\"configuration\"]");
        w.key(f::EVENT_TYPE);
        w.out.extend_from_slice(b"[\"");
    } else if session {
        w.raw(f::EVENT_CATEGORY, "[\"session\"]");
        w.key(f::EVENT_TYPE);
        w.out.extend_from_slice(b"[\"");
    } else {
        w.raw(f::EVENT_CATEGORY, "[\"network\",\"web\"]");
        w.key(f::EVENT_TYPE);
        w.out.extend_from_slice(if event.http {
            b"[\"access\",\""
        } else {
            b"[\"connection\",\""
        });
    }
    w.out.extend_from_slice(event.action.event_type().as_bytes());
    w.out.extend_from_slice(b"\"]");
    w.str(f::EVENT_ACTION, event.action.as_str());
    w.str(f::EVENT_OUTCOME, event.action.outcome());
    if let Some(r) = event.reason {
        w.str(f::EVENT_REASON, r.as_str());
    }
    if let Some(d) = event.duration {
        w.num(f::EVENT_DURATION, u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }
    if !config {
        w.ip(f::SOURCE_IP, event.source.ip());
    }
    if !session && !config {
        w.num(f::SOURCE_PORT, u64::from(event.source.port()));
    }
    if let Some(b) = event.source_bytes {
        w.num(f::SOURCE_BYTES, b);
    }
    if let Some(m) = &event.mac {
        w.str(f::SOURCE_MAC, &m.ecs());
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
    if event.acknowledged {
        w.str(f::LABELS_ACKNOWLEDGED, "true");
    }
    if !session && !config {
        w.str(f::LABELS_COVERAGE, event.coverage.as_str());
    }
    if event.ech {
        w.str(f::LABELS_ECH, "true");
    }
    if let Some(l) = event.identity {
        w.str(f::LABELS_IDENTITY, l.as_str());
    }
    if event.intercepted {
        w.str(f::LABELS_INTERCEPTED, "true");
    }
    if let Some(l) = event.listener {
        w.str(f::LABELS_LISTENER, l.as_str());
    }
    if let Some(nas) = event.nas {
        w.ip(f::LABELS_NAS, nas);
    }
    if let Some(v) = &event.policy_version {
        w.str(f::LABELS_POLICY_VERSION, v);
    }
    if let Some(v) = &event.previous_policy_version {
        w.str(f::LABELS_PREVIOUS_POLICY_VERSION, v);
    }
    if event.unknown_protocol {
        w.str(f::LABELS_PROTOCOL, "unknown");
    }
    if let Some(m) = &event.message {
        w.str(f::MESSAGE, m);
    }
    w.finish();
}

/// Deepest nesting of an ECS field name (`tls.client.server_name`).
const DEPTH: usize = 4;

/// Writes dotted keys as nested JSON objects without allocating. Keys sharing a prefix
/// must be consecutive.
struct Nested<'a> {
    out: &'a mut Vec<u8>,
    /// Open object names (the parents of the last key).
    path: [&'static str; DEPTH],
    depth: usize,
    /// Whether each open object (the root first) already has a member.
    has_member: [bool; DEPTH + 1],
}

impl<'a> Nested<'a> {
    fn new(out: &'a mut Vec<u8>) -> Nested<'a> {
        out.push(b'{');
        Nested {
            out,
            path: [""; DEPTH],
            depth: 0,
            has_member: [false; DEPTH + 1],
        }
    }

    fn key(&mut self, key: &'static str) {
        let (parents, leaf) = match key.rfind('.') {
            Some(i) if !key.starts_with('@') => (&key[..i], &key[i + 1..]),
            _ => ("", key),
        };
        let mut common = 0;
        for (i, seg) in parents.split('.').filter(|s| !s.is_empty()).enumerate() {
            if i < self.depth && self.path[i] == seg {
                common = i + 1;
            } else {
                break;
            }
        }
        while self.depth > common {
            self.depth -= 1;
            self.out.push(b'}');
        }
        for seg in parents.split('.').filter(|s| !s.is_empty()).skip(common) {
            self.comma();
            escape_str(self.out, seg);
            self.out.extend_from_slice(b":{");
            if self.depth < DEPTH {
                self.path[self.depth] = seg;
            }
            self.depth += 1;
            if let Some(m) = self.has_member.get_mut(self.depth) {
                *m = false;
            }
        }
        self.comma();
        escape_str(self.out, leaf);
        self.out.push(b':');
    }

    fn comma(&mut self) {
        if let Some(has) = self.has_member.get_mut(self.depth) {
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
        self.out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    }

    fn ip(&mut self, key: &'static str, ip: IpAddr) {
        self.key(key);
        let _ = write!(self.out, "\"{ip}\"");
    }

    fn finish(self) {
        for _ in 0..self.depth {
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
    if !bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\' || b == 0x7f) {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
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

/// Reads an ECS object written by [`encode`] back into an [`Event`] (for formats that
/// map individual fields, such as CEF). Errors say which field is missing or wrong.
pub fn decode(json: &[u8]) -> Result<Event, String> {
    let v: serde_json::Value = serde_json::from_slice(json).map_err(|e| format!("not JSON: {e}"))?;
    let at = |path: &str| -> &serde_json::Value {
        let mut node = &v;
        let segments: &mut dyn Iterator<Item = &str> = if path.starts_with('@') {
            &mut std::iter::once(path)
        } else {
            &mut path.split('.')
        };
        for seg in segments {
            node = &node[seg];
        }
        node
    };
    let text = |path: &str| at(path).as_str().map(str::to_owned);
    let number = |path: &str| at(path).as_u64();
    let need = |path: &str| text(path).ok_or_else(|| format!("{path} missing"));
    let timestamp = humantime::parse_rfc3339(&need(f::TIMESTAMP)?).map_err(|e| format!("{}: {e}", f::TIMESTAMP))?;
    let action = Action::parse(&need(f::EVENT_ACTION)?).ok_or("unknown event.action")?;
    let ip = |path: &str| text(path).and_then(|t| t.parse().ok());
    let port = match number(f::SOURCE_PORT) {
        Some(p) => u16::try_from(p).map_err(|_| "bad source.port")?,
        None if action.is_session() || action == Action::ConfigChanged => 0,
        None => return Err("source.port missing".into()),
    };
    let source_ip = match ip(f::SOURCE_IP) {
        Some(a) => a,
        None if action == Action::ConfigChanged => std::net::IpAddr::from([0, 0, 0, 0]),
        None => return Err("source.ip missing".into()),
    };
    let source = std::net::SocketAddr::new(source_ip, port);
    let coverage = match text(f::LABELS_COVERAGE).unwrap_or_default().as_str() {
        "covered" => CoverageLabel::Known(Coverage::Covered),
        "advisory" => CoverageLabel::Known(Coverage::Advisory),
        "private" => CoverageLabel::Known(Coverage::Private),
        _ => CoverageLabel::Unknown,
    };
    let device = text(f::DEVICE_ID).map(|id| DeviceRef {
        id: id.into(),
        organisation: text(f::ORGANIZATION_NAME).map(Into::into),
        owner: text(f::USER_ID).map(Into::into),
    });
    let rule = text(f::RULE_ID).map(|id| RuleRef {
        id,
        name: text(f::RULE_NAME).unwrap_or_default(),
        ruleset: text(f::RULE_RULESET).unwrap_or_default(),
        reference: text(f::RULE_REFERENCE).unwrap_or_default(),
    });
    Ok(Event {
        id: need(f::EVENT_ID)?,
        timestamp,
        observer: need(f::OBSERVER_NAME)?.into(),
        action,
        http: at(f::EVENT_TYPE)[0] == "access",
        reason: text(f::EVENT_REASON).and_then(|r| Reason::parse(&r)),
        source,
        coverage,
        destination_domain: text(f::DESTINATION_DOMAIN),
        destination_ip: ip(f::DESTINATION_IP),
        destination_port: number(f::DESTINATION_PORT).and_then(|p| u16::try_from(p).ok()),
        server_name: text(f::TLS_SERVER_NAME),
        method: text(f::HTTP_METHOD),
        status_code: number(f::HTTP_STATUS).and_then(|s| u16::try_from(s).ok()),
        url: text(f::URL_ORIGINAL),
        device,
        rule,
        duration: number(f::EVENT_DURATION).map(std::time::Duration::from_nanos),
        source_bytes: number(f::SOURCE_BYTES),
        destination_bytes: number(f::DESTINATION_BYTES),
        ech: text(f::LABELS_ECH).as_deref() == Some("true"),
        listener: text(f::LABELS_LISTENER).and_then(|l| Listener::parse(&l)),
        identity: text(f::LABELS_IDENTITY).and_then(|l| IdentityLabel::parse(&l)),
        unknown_protocol: text(f::LABELS_PROTOCOL).as_deref() == Some("unknown"),
        intercepted: text(f::LABELS_INTERCEPTED).as_deref() == Some("true"),
        acknowledged: text(f::LABELS_ACKNOWLEDGED).as_deref() == Some("true"),
        policy_version: text(f::LABELS_POLICY_VERSION).map(Into::into),
        previous_policy_version: text(f::LABELS_PREVIOUS_POLICY_VERSION).map(Into::into),
        message: text(f::MESSAGE),
        mac: text(f::SOURCE_MAC).and_then(|m| crate::registry::Mac::parse(&m).ok()),
        nas: ip(f::LABELS_NAS),
    })
}

#[cfg(test)]
mod tests;

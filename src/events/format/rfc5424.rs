//! RFC 5424 syslog messages: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG`.
//!
//! PRI = facility × 8 + severity (blocked 4 warning, refused and auth_failed 5 notice,
//! error 3 err, advised 5 notice, allowed 6 info); TIMESTAMP is the event time (UTC,
//! milliseconds); HOSTNAME is `observer.name` (printable ASCII, at most 255); APP-NAME
//! `slagboom`; PROCID the process id; MSGID the action; no structured data; MSG the ECS
//! JSON object (or a CEF message). Framing (octet counting on TCP and TLS, one datagram
//! on UDP) is the transport's job.

use std::io::Write as _;
use std::time::SystemTime;

use super::Body;
use crate::events::{Action, Event};

/// Syslog severity of an action.
pub fn severity(action: Action) -> u8 {
    match action {
        Action::Blocked => 4,
        Action::Refused | Action::AuthFailed | Action::Advised | Action::Reported => 5,
        Action::Error => 3,
        Action::Allowed | Action::Bound | Action::Unbound | Action::ConfigChanged => 6,
    }
}

/// Appends the header and the structured-data `-`, up to where MSG begins.
pub fn header(action: Action, timestamp: SystemTime, observer: &str, facility: u8, out: &mut Vec<u8>) {
    let pri = u16::from(facility.min(23)) * 8 + u16::from(severity(action));
    out.push(b'<');
    out.extend_from_slice(itoa::Buffer::new().format(pri).as_bytes());
    out.extend_from_slice(b">1 ");
    let _ = write!(out, "{}", humantime::format_rfc3339_millis(timestamp));
    out.push(b' ');
    header_field(out, observer, 255);
    out.extend_from_slice(b" slagboom ");
    out.extend_from_slice(itoa::Buffer::new().format(std::process::id()).as_bytes());
    out.push(b' ');
    header_field(out, action.as_str(), 32);
    out.extend_from_slice(b" - ");
}

/// Appends one RFC 5424 message (no framing, no newline).
pub fn encode(e: &Event, facility: u8, body: Body, out: &mut Vec<u8>) {
    header(e.action, e.timestamp, &e.observer, facility, out);
    match body {
        Body::Ecs => {
            super::ecs::encode(e, out);
            if out.last() == Some(&b'\n') {
                out.pop();
            }
        }
        Body::Cef => super::cef::encode(e, out),
    }
}

/// A header field: printable US-ASCII without spaces, at most `max`; `-` when empty.
fn header_field(out: &mut Vec<u8>, s: &str, max: usize) {
    let start = out.len();
    out.extend(s.bytes().filter(|b| (33..=126).contains(b)).take(max));
    if out.len() == start {
        out.push(b'-');
    }
}

/// Cuts `msg` to at most `max` bytes without splitting a UTF-8 character (for UDP).
pub fn truncate(msg: &[u8], max: usize) -> &[u8] {
    if msg.len() <= max {
        return msg;
    }
    let mut end = max;
    // Step back over continuation bytes (10xxxxxx) to a character boundary.
    while end > 0 && (msg[end] & 0xC0) == 0x80 {
        end -= 1;
    }
    &msg[..end]
}

#[cfg(test)]
mod tests;

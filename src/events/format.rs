//! Event formats, each a pure `Event -> bytes` encoder: `ecs` (one JSON object),
//! `cef` (ArcSight Common Event Format) and `rfc5424` (syslog header + ECS JSON). Line
//! sinks (file, stdout) end each message with a newline; syslog frames it instead.

pub mod cef;
pub mod ecs;
pub mod rfc5424;

use super::Event;
use crate::config::Format;

/// Encodes one message (no trailing newline). `facility` is used by `rfc5424` (and by
/// `cef` when carried in a syslog header).
pub fn message(format: Format, event: &Event, facility: u8, out: &mut Vec<u8>) {
    match format {
        Format::Ecs => {
            ecs::encode(event, out);
            if out.last() == Some(&b'\n') {
                out.pop();
            }
        }
        Format::Cef => cef::encode(event, out),
        Format::Rfc5424 => rfc5424::encode(event, facility, Body::Ecs, out),
    }
}

/// Encodes one message followed by a newline (file and stdout sinks).
pub fn line(format: Format, event: &Event, facility: u8, out: &mut Vec<u8>) {
    message(format, event, facility, out);
    out.push(b'\n');
}

/// What an RFC 5424 message carries as MSG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    Ecs,
    Cef,
}

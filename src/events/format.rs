//! Event formats, each a pure `Event -> bytes` encoder: `ecs` (one JSON object),
//! `cef` (ArcSight Common Event Format) and `rfc5424` (syslog header + ECS JSON). Line
//! sinks (file, stdout) end each message with a newline; syslog frames it instead.

pub mod cef;
pub mod ecs;
pub mod rfc5424;

use super::Record;
use crate::config::Format;

/// Encodes one recorded event (no trailing newline). `facility` is used by `rfc5424`.
/// ECS and RFC 5424 reuse the recorded ECS line; CEF decodes it (the only error).
pub fn message(format: Format, rec: &Record, facility: u8, out: &mut Vec<u8>) -> Result<(), String> {
    match format {
        Format::Ecs => out.extend_from_slice(&rec.ecs),
        Format::Cef => cef::encode(&rec.event()?, out),
        Format::Rfc5424 => {
            rfc5424::header(rec.action, rec.timestamp, &rec.observer, facility, out);
            out.extend_from_slice(&rec.ecs);
        }
    }
    Ok(())
}

/// Encodes one recorded event followed by a newline (file and stdout sinks).
pub fn line(format: Format, rec: &Record, facility: u8, out: &mut Vec<u8>) -> Result<(), String> {
    message(format, rec, facility, out)?;
    out.push(b'\n');
    Ok(())
}

/// What an RFC 5424 message carries as MSG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    Ecs,
    Cef,
}

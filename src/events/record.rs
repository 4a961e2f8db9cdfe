//! The spool record: an event as sinks need it. The ECS line is encoded once, when the
//! event is recorded; a record also carries the action, time and observer so that
//! syslog headers and HTTP envelopes need no JSON parsing. Only CEF, which maps
//! individual fields, decodes the ECS object back into an [`Event`].
//!
//! Layout: `1u8` (version), action (`u8`), time (`u64` LE, ms since the epoch),
//! observer length (`u16` LE), observer, ECS JSON (no trailing newline).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{ecs, Action, Event};

const VERSION: u8 = 1;

/// A recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub action: Action,
    pub timestamp: SystemTime,
    pub observer: String,
    /// The ECS object, one line without its newline.
    pub ecs: Vec<u8>,
}

impl Record {
    /// Encodes the event's ECS line once.
    pub fn from_event(e: &Event) -> Record {
        let mut ecs = Vec::with_capacity(768);
        ecs::encode(e, &mut ecs);
        if ecs.last() == Some(&b'\n') {
            ecs.pop();
        }
        Record {
            action: e.action,
            timestamp: e.timestamp,
            observer: e.observer.to_string(),
            ecs,
        }
    }

    /// The spool bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let observer = &self.observer.as_bytes()[..self.observer.len().min(u16::MAX as usize)];
        let mut out = Vec::with_capacity(12 + observer.len() + self.ecs.len());
        out.push(VERSION);
        let action = Action::ALL.iter().position(|a| *a == self.action).unwrap_or(0);
        out.push(u8::try_from(action).unwrap_or(0));
        out.extend_from_slice(&self.timestamp_ms().to_le_bytes());
        out.extend_from_slice(&(observer.len() as u16).to_le_bytes());
        out.extend_from_slice(observer);
        out.extend_from_slice(&self.ecs);
        out
    }

    /// Reads spool bytes; `None` for anything malformed.
    pub fn from_bytes(b: &[u8]) -> Option<Record> {
        let (&version, rest) = b.split_first()?;
        if version != VERSION {
            return None;
        }
        let (&action, rest) = rest.split_first()?;
        let action = *Action::ALL.get(usize::from(action))?;
        let ms = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?);
        let len = usize::from(u16::from_le_bytes(rest.get(8..10)?.try_into().ok()?));
        let observer = std::str::from_utf8(rest.get(10..10 + len)?).ok()?.to_owned();
        let ecs = rest.get(10 + len..)?.to_vec();
        Some(Record {
            action,
            timestamp: UNIX_EPOCH + Duration::from_millis(ms),
            observer,
            ecs,
        })
    }

    pub fn timestamp_ms(&self) -> u64 {
        self.timestamp
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    /// The full event, decoded from the ECS object (for CEF).
    pub fn event(&self) -> Result<Event, String> {
        ecs::decode(&self.ecs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_and_garbage_is_refused() {
        let mut e = Event::new(Action::Blocked, "192.0.2.1:4000".parse().unwrap());
        e.observer = "proxy-1".into();
        let r = Record::from_event(&e);
        let back = Record::from_bytes(&r.to_bytes()).unwrap();
        assert_eq!(back.action, Action::Blocked);
        assert_eq!(back.observer, "proxy-1");
        assert_eq!(back.ecs, r.ecs);
        assert_eq!(back.timestamp_ms(), r.timestamp_ms());
        assert_eq!(back.event().unwrap().id, e.id);
        for bad in [
            &b""[..],
            b"\x02\x00",
            b"\x01\x0a\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
            b"\x01\x00\x00",
        ] {
            assert!(Record::from_bytes(bad).is_none(), "{bad:?}");
        }
    }
}

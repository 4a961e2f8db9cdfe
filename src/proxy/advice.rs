//! Advice acknowledgements (SPEC §7), kept in memory and bounded: the one-time tokens
//! of the advice pages shown, each bound to a device, a ruleset and a day, and what
//! each device acknowledged today. A proxy restart forgets them: the device sees the
//! advice once more, which is the safe side.
//!
//! The day is the proxy's local date: its UTC offset is read once at start
//! ([`init_local_offset`]), while the process still has one thread.

use std::num::NonZeroUsize;
use std::sync::{Mutex, OnceLock};

use lru::LruCache;
use time::{Date, OffsetDateTime, UtcOffset};

/// Advice pages shown and not yet acknowledged, across all devices.
const PENDING: usize = 10_000;
/// Acknowledgements kept (device × ruleset).
const ACKNOWLEDGED: usize = 100_000;

static LOCAL_OFFSET: OnceLock<UtcOffset> = OnceLock::new();

/// Reads the local UTC offset (UTC when it cannot be known). Call before any thread
/// is started: the C library's time zone state is not thread-safe.
pub fn init_local_offset() {
    let offset = UtcOffset::current_local_offset().unwrap_or(UtcOffset::UTC);
    let _ = LOCAL_OFFSET.set(offset);
}

/// The proxy's local date now.
pub fn today() -> Date {
    let offset = LOCAL_OFFSET.get().copied().unwrap_or(UtcOffset::UTC);
    OffsetDateTime::now_utc().to_offset(offset).date()
}

/// Who acknowledges: the registry device, or the source address of an unknown one.
pub type DeviceKey = String;

#[derive(Debug)]
struct Pending {
    device: DeviceKey,
    ruleset: String,
    day: Date,
    /// Where the 303 goes: the URL the advice page stood in for.
    url: String,
}

/// Why a "continue" was refused (403).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Never issued, already used, or evicted.
    Unknown,
    /// Issued to another device, or on another day.
    Mismatch,
}

/// The advice state of the process.
#[derive(Debug)]
pub struct Advice {
    pending: Mutex<LruCache<String, Pending>>,
    acknowledged: Mutex<LruCache<(DeviceKey, String), Date>>,
}

impl Default for Advice {
    fn default() -> Self {
        Advice::new(PENDING, ACKNOWLEDGED)
    }
}

impl Advice {
    /// A store holding at most `pending` tokens and `acknowledged` acknowledgements.
    pub fn new(pending: usize, acknowledged: usize) -> Advice {
        let cap = |n: usize| NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN);
        Advice {
            pending: Mutex::new(LruCache::new(cap(pending))),
            acknowledged: Mutex::new(LruCache::new(cap(acknowledged))),
        }
    }

    /// A new one-time token for an advice page shown to `device` for `ruleset` on
    /// `day`, leading to `url`: 128 random bits, hex.
    pub fn issue(&self, device: &str, ruleset: &str, day: Date, url: String) -> String {
        let token = hex::encode(uuid::Uuid::new_v4().as_bytes());
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.put(
            token.clone(),
            Pending {
                device: device.to_owned(),
                ruleset: ruleset.to_owned(),
                day,
                url,
            },
        );
        token
    }

    /// Redeems `token` for `device` on `day`: the ruleset and URL it was issued for,
    /// and the acknowledgement recorded. A token is good once.
    pub fn redeem(&self, token: &str, device: &str, day: Date) -> Result<(String, String), Refused> {
        let p = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            match pending.peek(token) {
                None => return Err(Refused::Unknown),
                Some(p) if p.device != device || p.day != day => return Err(Refused::Mismatch),
                Some(_) => pending.pop(token).ok_or(Refused::Unknown)?,
            }
        };
        self.acknowledged
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .put((p.device, p.ruleset.clone()), p.day);
        Ok((p.ruleset, p.url))
    }

    /// True when `device` acknowledged the advice for `ruleset` on `day`.
    pub fn acknowledged(&self, device: &str, ruleset: &str, day: Date) -> bool {
        let mut acks = self.acknowledged.lock().unwrap_or_else(|p| p.into_inner());
        acks.get(&(device.to_owned(), ruleset.to_owned())) == Some(&day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_one_time_and_bound_to_device_and_day() {
        let advice = Advice::default();
        let day = today();
        let t = advice.issue("dev-1", "tiktok", day, "https://www.tiktok.com/".into());
        assert!(!advice.acknowledged("dev-1", "tiktok", day));
        assert_eq!(advice.redeem(&t, "dev-2", day), Err(Refused::Mismatch), "other device");
        assert_eq!(
            advice.redeem(&t, "dev-1", day.next_day().unwrap()),
            Err(Refused::Mismatch),
            "other day"
        );
        assert_eq!(advice.redeem("forged", "dev-1", day), Err(Refused::Unknown));
        let (ruleset, url) = advice.redeem(&t, "dev-1", day).unwrap();
        assert_eq!((ruleset.as_str(), url.as_str()), ("tiktok", "https://www.tiktok.com/"));
        assert_eq!(advice.redeem(&t, "dev-1", day), Err(Refused::Unknown), "reused");
        assert!(advice.acknowledged("dev-1", "tiktok", day));
        assert!(
            !advice.acknowledged("dev-1", "tiktok", day.next_day().unwrap()),
            "until the day ends"
        );
        assert!(!advice.acknowledged("dev-2", "tiktok", day));
    }

    #[test]
    fn bounded() {
        let advice = Advice::new(2, 2);
        let day = today();
        let first = advice.issue("d", "r", day, "u".into());
        for _ in 0..5 {
            advice.issue("d", "r", day, "u".into());
        }
        assert_eq!(advice.redeem(&first, "d", day), Err(Refused::Unknown), "evicted");
        assert_eq!(advice.pending.lock().unwrap().len(), 2);
    }
}

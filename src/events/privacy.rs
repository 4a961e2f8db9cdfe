//! `[privacy]`: what events may say about people.
//!
//! - `allowed_detail = "host"` (default) drops `url.original` from allowed (and
//!   advised) traffic, `"url"` keeps it, `"none"` writes no event for allowed traffic.
//!   Advised, reported, blocked, refused, auth_failed and error events are always
//!   written (a reported event is allowed traffic: under `"host"` it has no URL).
//! - `pseudonymise_owner` replaces `user.id` with the lowercase hex HMAC-SHA-256 of the
//!   owner, keyed with the key file's bytes minus trailing whitespace.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{Action, Event};
use crate::config::{AllowedDetail, PrivacyConfig};

/// Applies the privacy rules; `None` when the event must not be written at all.
pub fn apply(cfg: &PrivacyConfig, mut event: Event) -> Option<Event> {
    let allowed = matches!(event.action, Action::Allowed | Action::Advised | Action::Reported);
    match cfg.allowed_detail {
        AllowedDetail::None if event.action == Action::Allowed => return None,
        AllowedDetail::Host | AllowedDetail::None if allowed => event.url = None,
        _ => {}
    }
    if let (Some(key), Some(device)) = (&cfg.pseudonym_key, event.device.as_mut()) {
        if let Some(owner) = &device.owner {
            device.owner = Some(Arc::from(pseudonym(&key.0, owner)));
        }
    }
    Some(event)
}

/// Lowercase hex HMAC-SHA-256 of `owner` under `key`.
pub fn pseudonym(key: &[u8], owner: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(owner.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use crate::events::DeviceRef;

    fn event(action: Action) -> Event {
        let mut e = Event::new(action, "192.0.2.1:5000".parse().unwrap());
        e.url = Some("http://example.org/path?q=1".into());
        e.device = Some(DeviceRef {
            id: "d".into(),
            organisation: None,
            owner: Some("staff-42".into()),
        });
        e
    }

    fn cfg(detail: AllowedDetail, key: Option<&[u8]>) -> PrivacyConfig {
        PrivacyConfig {
            pseudonym_key: key.map(|k| Secret(k.to_vec())),
            allowed_detail: detail,
        }
    }

    #[test]
    fn allowed_detail_modes() {
        let host = cfg(AllowedDetail::Host, None);
        assert_eq!(apply(&host, event(Action::Allowed)).unwrap().url, None);
        assert_eq!(apply(&host, event(Action::Advised)).unwrap().url, None);
        assert!(apply(&host, event(Action::Blocked)).unwrap().url.is_some());
        let url = cfg(AllowedDetail::Url, None);
        assert!(apply(&url, event(Action::Allowed)).unwrap().url.is_some());
        let none = cfg(AllowedDetail::None, None);
        assert!(apply(&none, event(Action::Allowed)).is_none());
        for a in [
            Action::Advised,
            Action::Blocked,
            Action::Refused,
            Action::AuthFailed,
            Action::Error,
        ] {
            assert!(apply(&none, event(a)).is_some(), "{a:?}");
        }
    }

    #[test]
    fn pseudonym_is_rfc4231_hmac() {
        // RFC 4231 test case 2.
        assert_eq!(
            pseudonym(b"Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let c = cfg(AllowedDetail::Host, Some(b"Jefe"));
        let e = apply(&c, event(Action::Blocked)).unwrap();
        let owner = e.device.unwrap().owner.unwrap();
        assert_eq!(&*owner, pseudonym(b"Jefe", "staff-42"));
    }
}

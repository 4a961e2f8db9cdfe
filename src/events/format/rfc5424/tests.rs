use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::events::{CoverageLabel, Reason};

fn event(action: Action) -> Event {
    let mut e = Event::new(action, "192.0.2.7:40000".parse().unwrap());
    e.id = "ev-1".into();
    e.timestamp = UNIX_EPOCH + Duration::from_millis(1_764_000_000_123);
    e.observer = "proxy-1".into();
    e.coverage = CoverageLabel::Unknown;
    e
}

fn text(e: &Event, body: Body) -> String {
    let mut out = Vec::new();
    encode(e, 16, body, &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn header_fields() {
    let mut e = event(Action::Blocked);
    e.reason = Some(Reason::Policy);
    let t = text(&e, Body::Ecs);
    let pid = std::process::id();
    let prefix = format!("<132>1 2025-11-24T16:00:00.123Z proxy-1 slagboom {pid} blocked - {{");
    assert!(t.starts_with(&prefix), "{t}");
    let json = &t[prefix.len() - 1..];
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(v["event"]["id"], "ev-1");
    assert!(!t.ends_with('\n'));
}

#[test]
fn priority_per_action_and_facility() {
    for (a, sev) in [
        (Action::Allowed, 6),
        (Action::Advised, 5),
        (Action::Refused, 5),
        (Action::AuthFailed, 5),
        (Action::Error, 3),
        (Action::Blocked, 4),
    ] {
        assert!(
            text(&event(a), Body::Ecs).starts_with(&format!("<{}>1 ", 16 * 8 + sev)),
            "{a:?}"
        );
    }
}

#[test]
fn hostile_hostname_and_cef_body() {
    let mut e = event(Action::Allowed);
    e.observer = "proxy one\n|é".into();
    let t = text(&e, Body::Cef);
    assert!(
        t.contains(" proxyone| slagboom "),
        "spaces, controls and non-ASCII removed from HOSTNAME: {t}"
    );
    assert!(t.contains(" allowed - CEF:0|slagboom|"), "{t}");
    e.observer = "".into();
    assert!(text(&e, Body::Ecs).contains(".123Z - slagboom "));
}

#[test]
fn udp_truncation_keeps_utf8_whole() {
    let msg = "aé€😀".as_bytes();
    for max in 0..msg.len() + 2 {
        let cut = truncate(msg, max);
        assert!(cut.len() <= max);
        assert!(std::str::from_utf8(cut).is_ok(), "{max}");
    }
    assert_eq!(truncate(msg, 100), msg);
}

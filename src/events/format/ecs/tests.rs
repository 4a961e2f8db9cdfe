use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;

use super::*;
use crate::events::{Action, CoverageLabel, DeviceRef, Reason, RuleRef};
use crate::registry::Coverage;

fn encode_value(e: &Event) -> Value {
    let mut out = Vec::new();
    encode(e, &mut out);
    assert_eq!(out.last(), Some(&b'\n'));
    assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1, "one line");
    serde_json::from_slice(&out).unwrap()
}

fn minimal(action: Action) -> Event {
    let mut e = Event::new(action, "192.0.2.10:51234".parse().unwrap());
    e.id = "ev-1".into();
    e.observer = "proxy-1".into();
    e.timestamp = UNIX_EPOCH + Duration::from_millis(1_678_406_400_123);
    e
}

#[test]
fn always_present_fields() {
    let v = encode_value(&minimal(Action::Error));
    assert_eq!(v["@timestamp"], "2023-03-10T00:00:00.123Z");
    assert_eq!(v["ecs"]["version"], "8.11.0");
    assert_eq!(v["event"]["id"], "ev-1");
    assert_eq!(v["event"]["kind"], "event");
    assert_eq!(v["event"]["category"], serde_json::json!(["network", "web"]));
    assert_eq!(v["event"]["type"], serde_json::json!(["connection", "error"]));
    assert_eq!(v["event"]["action"], "error");
    assert_eq!(v["event"]["outcome"], "failure");
    assert_eq!(v["source"]["ip"], "192.0.2.10");
    assert_eq!(v["source"]["port"], 51234);
    assert_eq!(
        v["observer"],
        serde_json::json!({"name": "proxy-1", "type": "proxy", "product": "slagboom"})
    );
    assert_eq!(v["labels"]["coverage"], "unknown");
    // Unknown fields are omitted, never null.
    let text = v.to_string();
    assert!(!text.contains("null"), "{text}");
    for absent in [
        "destination",
        "tls",
        "http",
        "url",
        "device",
        "rule",
        "user",
        "organization",
    ] {
        assert!(v.get(absent).is_none(), "{absent}");
    }
}

/// An event with every optional field set.
fn full() -> Event {
    let mut e = minimal(Action::Blocked);
    e.http = true;
    e.reason = Some(Reason::DomainFronting);
    e.coverage = CoverageLabel::Known(Coverage::Covered);
    e.destination_domain = Some("cdn.example".into());
    e.destination_ip = Some("2001:db8::1".parse().unwrap());
    e.destination_port = Some(443);
    e.server_name = Some("www.tiktok.com".into());
    e.method = Some("GET".into());
    e.status_code = Some(403);
    e.url = Some("http://cdn.example/a?b=1".into());
    e.device = Some(DeviceRef {
        id: "fin-1".into(),
        organisation: Some("FPS Finance".into()),
        owner: Some("staff-1".into()),
    });
    e.rule = Some(RuleRef {
        id: "tiktok.com".into(),
        name: "TikTok".into(),
        ruleset: "tiktok".into(),
        reference: "be-federal-tiktok".into(),
    });
    e.duration = Some(Duration::from_micros(1500));
    e.source_bytes = Some(517);
    e.destination_bytes = Some(0);
    e.ech = true;
    e
}

#[test]
fn every_field_nests_where_ecs_puts_it() {
    let e = full();
    let v = encode_value(&e);
    assert_eq!(v["event"]["type"], serde_json::json!(["access", "denied"]));
    assert_eq!(v["event"]["reason"], "domain_fronting");
    assert_eq!(v["event"]["duration"], 1_500_000);
    assert_eq!(v["source"]["bytes"], 517);
    assert_eq!(
        v["destination"],
        serde_json::json!({"domain": "cdn.example", "ip": "2001:db8::1", "port": 443, "bytes": 0})
    );
    assert_eq!(v["tls"]["client"]["server_name"], "www.tiktok.com");
    assert_eq!(
        v["http"],
        serde_json::json!({"request": {"method": "GET"}, "response": {"status_code": 403}})
    );
    assert_eq!(v["url"]["original"], "http://cdn.example/a?b=1");
    assert_eq!(v["device"]["id"], "fin-1");
    assert_eq!(v["organization"]["name"], "FPS Finance");
    assert_eq!(v["user"]["id"], "staff-1");
    assert_eq!(
        v["rule"],
        serde_json::json!({"id": "tiktok.com", "name": "TikTok", "ruleset": "tiktok", "reference": "be-federal-tiktok"})
    );
    assert_eq!(v["labels"], serde_json::json!({"coverage": "covered", "ech": "true"}));
}

#[test]
fn types_and_outcomes_per_action() {
    let cases = [
        (Action::Allowed, "allowed", "success"),
        (Action::Advised, "allowed", "success"),
        (Action::Blocked, "denied", "failure"),
        (Action::Refused, "denied", "failure"),
        (Action::AuthFailed, "denied", "failure"),
        (Action::Error, "error", "failure"),
    ];
    for (action, ty, outcome) in cases {
        let v = encode_value(&minimal(action));
        assert_eq!(v["event"]["type"][1], ty);
        assert_eq!(v["event"]["outcome"], outcome);
        assert_eq!(v["event"]["action"], action.as_str());
    }
}

#[test]
fn hostile_strings_stay_one_valid_line() {
    let mut e = minimal(Action::Blocked);
    e.url = Some("http://x.example/\"quoted\"\\back\nnew\rline\u{0}\u{1f}\u{7f}é🎉".into());
    let v = encode_value(&e);
    assert_eq!(
        v["url"]["original"],
        "http://x.example/\"quoted\"\\back\nnew\rline\u{0}\u{1f}\u{7f}é🎉"
    );
}

#[test]
fn decode_reads_back_every_field() {
    let mut e = full();
    e.coverage = CoverageLabel::Known(Coverage::Advisory);
    e.url = Some("http://cdn.example/a?b=\"1\"".into());
    if let Some(d) = e.device.as_mut() {
        d.organisation = Some("FPS|Finance".into());
    }
    let mut out = Vec::new();
    encode(&e, &mut out);
    assert_eq!(decode(&out).unwrap(), e);
    let mut bare = minimal(Action::Allowed);
    bare.coverage = CoverageLabel::Unknown;
    let mut out = Vec::new();
    encode(&bare, &mut out);
    assert_eq!(decode(&out).unwrap(), bare);
    assert!(decode(b"{}").is_err());
    assert!(decode(b"not json").is_err());
}

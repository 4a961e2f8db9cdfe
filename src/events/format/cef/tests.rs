use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::events::{CoverageLabel, DeviceRef, Reason, RuleRef};
use crate::registry::Coverage;

fn event() -> Event {
    let mut e = Event::new(Action::Blocked, "10.20.30.41:52814".parse().unwrap());
    e.id = "019ab8f1-8e20-7c55-9f3b-5d4c7e9fab03".into();
    e.timestamp = UNIX_EPOCH + Duration::from_millis(1_764_000_002_000);
    e.observer = "slagboom-1".into();
    e.reason = Some(Reason::DomainFronting);
    e.coverage = CoverageLabel::Known(Coverage::Covered);
    e.destination_domain = Some("cdn.example.net".into());
    e.destination_port = Some(443);
    e.server_name = Some("www.tiktok.com".into());
    e.device = Some(DeviceRef {
        id: "fin-laptop-001".into(),
        organisation: Some("FPS Finance".into()),
        owner: Some("staff-10231".into()),
    });
    e.rule = Some(RuleRef {
        id: "tiktok.com".into(),
        name: "TikTok".into(),
        ruleset: "tiktok".into(),
        reference: "be-federal-tiktok".into(),
    });
    e
}

fn text(e: &Event) -> String {
    let mut out = Vec::new();
    encode(e, &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn golden_blocked_event() {
    let v = env!("CARGO_PKG_VERSION");
    assert_eq!(
        text(&event()),
        format!(
            "CEF:0|slagboom|slagboom|{v}|blocked|blocked (domain_fronting)|7|rt=1764000002000 act=blocked \
             outcome=failure reason=domain_fronting src=10.20.30.41 spt=52814 dpt=443 dhost=cdn.example.net \
             suser=staff-10231 deviceExternalId=fin-laptop-001 cs1Label=policy cs1=be-federal-tiktok \
             cs2Label=ruleset cs2=tiktok cs3Label=rule cs3=tiktok.com cs4Label=coverage cs4=covered \
             cs5Label=organisation cs5=FPS Finance cs6Label=sni cs6=www.tiktok.com \
             externalId=019ab8f1-8e20-7c55-9f3b-5d4c7e9fab03 dvchost=slagboom-1"
        )
    );
}

#[test]
fn severity_per_action() {
    for (a, s) in [
        (Action::Blocked, 7),
        (Action::Refused, 5),
        (Action::AuthFailed, 5),
        (Action::Error, 3),
        (Action::Advised, 3),
        (Action::Allowed, 1),
    ] {
        let mut e = event();
        e.action = a;
        e.reason = None;
        let t = text(&e);
        let fields: Vec<&str> = t.splitn(8, '|').collect();
        assert_eq!(fields[6], s.to_string(), "{a:?}");
        assert_eq!(fields[4], a.as_str());
    }
}

#[test]
fn hostile_values_are_escaped() {
    let mut e = event();
    e.device = Some(DeviceRef {
        id: "dev=1\\x".into(),
        organisation: Some("Org|Pipe = Equals\\Back\nNew\rLine é".into()),
        owner: None,
    });
    e.rule = Some(RuleRef {
        id: "a|b".into(),
        name: "T".into(),
        ruleset: "rs|1\\".into(),
        reference: "p=1".into(),
    });
    e.reason = None;
    let t = text(&e);
    // The header: the ruleset (in the name) has its pipe and backslash escaped.
    assert!(t.contains("|blocked (rs\\|1\\\\)|7|"), "{t}");
    // Extension: `=`, `\` and line breaks escaped; pipes need no escape.
    assert!(t.contains("cs5=Org|Pipe \\= Equals\\\\Back\\nNew\\rLine é "), "{t}");
    assert!(t.contains("deviceExternalId=dev\\=1\\\\x "), "{t}");
    assert!(t.contains("cs1=p\\=1 "), "{t}");
    assert!(t.contains("cs3=a|b "), "{t}");
    assert!(!t.contains('\n') && !t.contains('\r'));
    // Exactly 7 unescaped pipes in the header.
    let mut pipes = 0;
    let mut escaped = false;
    for c in t.chars() {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, '|') => pipes += 1,
            _ => {}
        }
        if pipes == 7 {
            break;
        }
    }
    assert_eq!(pipes, 7);
}

#[test]
fn request_only_for_plain_http() {
    let mut e = event();
    e.url = Some("http://x.example/a=b".into());
    assert!(!text(&e).contains("request="));
    e.http = true;
    e.method = Some("GET".into());
    let t = text(&e);
    assert!(t.contains("requestMethod=GET request=http://x.example/a\\=b"), "{t}");
}

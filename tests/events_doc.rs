//! `docs/events.md` shows one example event per action. The examples are produced here
//! by the real encoder and compared with the document, so the document cannot drift.
//! Run with `SLAGBOOM_BLESS_DOCS=1` to rewrite the examples after a deliberate change.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use slagboom::events::format::Body;
use slagboom::events::{
    cef, ecs, rfc5424, Action, CoverageLabel, DeviceRef, Event, IdentityLabel, Listener, Reason, RuleRef,
};
use slagboom::registry::Coverage;

fn base(action: Action, id: &str, ms: u64) -> Event {
    let mut e = Event::new(action, "10.20.30.41:52814".parse().unwrap());
    e.listener = Some(Listener::Explicit);
    e.identity = Some(IdentityLabel::Token);
    e.id = id.to_owned();
    e.observer = "slagboom-1".into();
    e.timestamp = UNIX_EPOCH + Duration::from_millis(ms);
    e.policy_version = Some("5c1e0f3a9b27d846".into());
    e
}

fn device(id: &str, org: &str, owner: &str, coverage: Coverage, e: &mut Event) {
    e.device = Some(DeviceRef {
        id: id.into(),
        organisation: Some(org.into()),
        owner: Some(owner.into()),
    });
    e.coverage = CoverageLabel::Known(coverage);
}

fn tiktok_rule() -> RuleRef {
    RuleRef {
        id: "tiktok.com".into(),
        name: "TikTok".into(),
        ruleset: "tiktok".into(),
        reference: "be-federal-tiktok".into(),
    }
}

fn examples() -> Vec<(&'static str, Event)> {
    let t = 1_764_000_000_000;
    let mut allowed = base(Action::Allowed, "019ab8f1-6c00-7a3e-9d1f-3b2a5c7e8f01", t);
    device(
        "fin-laptop-001",
        "FPS Finance",
        "staff-10231",
        Coverage::Covered,
        &mut allowed,
    );
    allowed.destination_domain = Some("www.belgium.be".into());
    allowed.destination_ip = Some("192.0.2.80".parse().unwrap());
    allowed.destination_port = Some(443);
    allowed.server_name = Some("www.belgium.be".into());
    allowed.duration = Some(Duration::from_millis(48_212));
    allowed.source_bytes = Some(2_317);
    allowed.destination_bytes = Some(181_532);

    let mut advised = base(Action::Advised, "019ab8f1-7d10-7b44-8e2a-4c3b6d8f9a02", t + 1_000);
    device(
        "fed-byod-101",
        "FPS Finance",
        "staff-10101",
        Coverage::Advisory,
        &mut advised,
    );
    advised.http = true;
    advised.identity = Some(IdentityLabel::SourceIp);
    advised.destination_domain = Some("www.tiktok.com".into());
    advised.destination_ip = Some("192.0.2.44".parse().unwrap());
    advised.destination_port = Some(80);
    advised.method = Some("GET".into());
    advised.status_code = Some(301);
    advised.rule = Some(tiktok_rule());
    advised.duration = Some(Duration::from_micros(35_120));
    advised.source_bytes = Some(412);
    advised.destination_bytes = Some(689);

    let mut blocked = base(Action::Blocked, "019ab8f1-8e20-7c55-9f3b-5d4c7e9fab03", t + 2_000);
    device(
        "fin-laptop-001",
        "FPS Finance",
        "staff-10231",
        Coverage::Covered,
        &mut blocked,
    );
    blocked.reason = Some(Reason::DomainFronting);
    blocked.destination_domain = Some("cdn.example.net".into());
    blocked.destination_port = Some(443);
    blocked.server_name = Some("www.tiktok.com".into());
    blocked.rule = Some(tiktok_rule());
    blocked.duration = Some(Duration::from_micros(912));

    let mut refused = base(Action::Refused, "019ab8f1-9f30-7d66-8a4c-6e5d8fa0bc04", t + 3_000);
    device(
        "def-laptop-777",
        "Defence",
        "staff-60777",
        Coverage::Covered,
        &mut refused,
    );
    refused.reason = Some(Reason::DeviceRetired);
    refused.destination_domain = Some("intranet.mil.be".into());
    refused.destination_port = Some(443);

    // A CONNECT whose name resolves to a refused address: refused before the 200.
    let mut refused_address = base(Action::Refused, "019ab8f1-9f31-7d67-8a4d-6e5d8fa0bc14", t + 3_500);
    device(
        "fin-laptop-001",
        "FPS Finance",
        "staff-10231",
        Coverage::Covered,
        &mut refused_address,
    );
    refused_address.reason = Some(Reason::DestinationProhibited);
    refused_address.destination_domain = Some("metadata.example.org".into());
    refused_address.destination_ip = Some("169.254.169.254".parse().unwrap());
    refused_address.destination_port = Some(443);
    refused_address.duration = Some(Duration::from_micros(1_240));

    let mut auth = base(Action::AuthFailed, "019ab8f1-a040-7e77-9b5d-7f6e9ab1cd05", t + 4_000);
    auth.reason = Some(Reason::CredentialsInvalid);
    auth.destination_domain = Some("www.tiktok.com".into());
    auth.destination_port = Some(443);

    let mut error = base(Action::Error, "019ab8f1-b150-7f88-8c6e-8a7fabc2de06", t + 5_000);
    device(
        "vl-phone-017",
        "Digitaal Vlaanderen",
        "staff-20417",
        Coverage::Covered,
        &mut error,
    );
    error.http = true;
    error.identity = Some(IdentityLabel::SourceIp);
    error.reason = Some(Reason::UpstreamTimeout);
    error.destination_domain = Some("slow.example.org".into());
    error.destination_port = Some(80);
    error.method = Some("GET".into());
    error.status_code = Some(504);
    error.url = Some("http://slow.example.org/report?id=7".into());
    error.duration = Some(Duration::from_secs(10));

    let mut bound = base(Action::Bound, "019ab8f1-b151-7f89-8c6f-8a7fabc2de16", t + 4_500);
    bound.source = "10.77.1.4:0".parse().unwrap();
    bound.listener = None;
    bound.identity = None;
    device(
        "fed-phone-204",
        "FPS Finance",
        "staff-10204",
        Coverage::Covered,
        &mut bound,
    );
    bound.mac = Some(slagboom::registry::Mac([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x04]));
    bound.nas = Some("10.20.0.5".parse().unwrap());

    // A reload that changed one device and added a rule.
    let mut config = base(Action::ConfigChanged, "019ab8f1-5a10-7a21-8c3e-2b1a4c6d7e10", t + 5_000);
    config.listener = None;
    config.identity = None;
    config.previous_policy_version = Some("9d04b6e1c2a37f58".into());
    config.message = Some("policies +0 -0 ~0; rules +1 -0; devices +0 -0 ~1".into());

    // A ban being phased in: the tunnel passed, the event says what a block would say.
    let mut reported = base(Action::Reported, "019ab8f1-8e22-7c57-9f3d-5d4c7e9fab23", t + 2_400);
    device(
        "fin-laptop-003",
        "FPS Finance",
        "staff-10233",
        Coverage::Covered,
        &mut reported,
    );
    reported.destination_domain = Some("www.tiktok.com".into());
    reported.destination_ip = Some("192.0.2.44".parse().unwrap());
    reported.destination_port = Some(443);
    reported.server_name = Some("www.tiktok.com".into());
    reported.rule = Some(RuleRef {
        reference: "be-wallonia-tiktok".into(),
        ..tiktok_rule()
    });
    reported.duration = Some(Duration::from_millis(3_120));
    reported.source_bytes = Some(1_904);
    reported.destination_bytes = Some(24_110);

    // TikTok over HTTPS on the HTTPS proxy port, answered with the block page.
    let mut intercepted = base(Action::Blocked, "019ab8f1-8e21-7c56-9f3c-5d4c7e9fab13", t + 2_200);
    device(
        "fin-laptop-002",
        "FPS Finance",
        "staff-10232",
        Coverage::Covered,
        &mut intercepted,
    );
    intercepted.listener = Some(Listener::Tls);
    intercepted.identity = Some(IdentityLabel::ClientCert);
    intercepted.reason = Some(Reason::Policy);
    intercepted.destination_domain = Some("www.tiktok.com".into());
    intercepted.destination_port = Some(443);
    intercepted.server_name = Some("www.tiktok.com".into());
    intercepted.rule = Some(tiktok_rule());
    intercepted.duration = Some(Duration::from_micros(4_180));
    intercepted.intercepted = true;

    // A personal phone used for work pressed "continue" on the advice page.
    let mut acknowledged = base(Action::Advised, "019ab8f1-7d11-7b45-8e2b-4c3b6d8e9f12", t + 1_500);
    device(
        "fin-phone-118",
        "FPS Finance",
        "staff-10118",
        Coverage::Advisory,
        &mut acknowledged,
    );
    acknowledged.listener = Some(Listener::Transparent);
    acknowledged.identity = Some(IdentityLabel::Radius);
    acknowledged.destination_domain = Some("www.tiktok.com".into());
    acknowledged.destination_ip = Some("192.0.2.44".parse().unwrap());
    acknowledged.destination_port = Some(443);
    acknowledged.server_name = Some("www.tiktok.com".into());
    acknowledged.rule = Some(tiktok_rule());
    acknowledged.duration = Some(Duration::from_micros(2_950));
    acknowledged.intercepted = true;
    acknowledged.acknowledged = true;

    vec![
        ("allowed", allowed),
        ("advised", advised),
        ("advised-acknowledged", acknowledged),
        ("blocked", blocked),
        ("blocked-intercepted", intercepted),
        ("reported", reported),
        ("config_changed", config),
        ("refused", refused),
        ("refused-address", refused_address),
        ("auth_failed", auth),
        ("bound", bound),
        ("error", error),
    ]
}

fn block(name: &str, e: &Event) -> String {
    let mut line = Vec::new();
    ecs::encode(e, &mut line);
    let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
    format!(
        "<!-- example: {name} -->\n```json\n{}\n```\n<!-- /example -->",
        serde_json::to_string_pretty(&v).unwrap()
    )
}

/// The same blocked event in CEF and in RFC 5424 (PROCID fixed for the document).
fn format_blocks() -> Vec<(String, String)> {
    let blocked = examples().into_iter().find(|(n, _)| *n == "blocked").unwrap().1;
    let mut c = Vec::new();
    cef::encode(&blocked, &mut c);
    let mut r = Vec::new();
    rfc5424::encode(&blocked, 16, Body::Ecs, &mut r);
    let r = String::from_utf8(r)
        .unwrap()
        .replace(&format!(" slagboom {} ", std::process::id()), " slagboom 4242 ");
    let mut line = Vec::new();
    ecs::encode(&blocked, &mut line);
    vec![
        (
            "ecs-line".to_owned(),
            String::from_utf8(line).unwrap().trim_end().to_owned(),
        ),
        ("cef".to_owned(), String::from_utf8(c).unwrap()),
        ("rfc5424".to_owned(), r),
    ]
}

#[test]
fn docs_format_examples_are_what_the_encoders_write() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/events.md");
    let mut doc = std::fs::read_to_string(&path).unwrap();
    let bless = std::env::var_os("SLAGBOOM_BLESS_DOCS").is_some();
    for (name, text) in format_blocks() {
        let want = format!("<!-- format: {name} -->\n```text\n{text}\n```\n<!-- /format -->");
        let tag = format!("<!-- format: {name} -->");
        let start = doc.find(&tag).unwrap_or_else(|| panic!("docs/events.md has no {tag}"));
        let end = start + doc[start..].find("<!-- /format -->").unwrap() + "<!-- /format -->".len();
        if bless {
            doc.replace_range(start..end, &want);
        } else {
            assert_eq!(
                doc[start..end],
                want,
                "docs/events.md format {name} is stale: rerun with SLAGBOOM_BLESS_DOCS=1"
            );
        }
    }
    if bless {
        std::fs::write(&path, doc).unwrap();
    }
}

#[test]
fn docs_events_examples_are_what_the_encoder_writes() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/events.md");
    let mut doc = std::fs::read_to_string(&path).unwrap();
    let bless = std::env::var_os("SLAGBOOM_BLESS_DOCS").is_some();
    for (name, event) in examples() {
        let want = block(name, &event);
        let start_tag = format!("<!-- example: {name} -->");
        let start = doc
            .find(&start_tag)
            .unwrap_or_else(|| panic!("docs/events.md has no {start_tag}"));
        let end = start + doc[start..].find("<!-- /example -->").unwrap() + "<!-- /example -->".len();
        if bless {
            doc.replace_range(start..end, &want);
        } else {
            assert_eq!(
                doc[start..end],
                want,
                "docs/events.md example {name} is stale: rerun with SLAGBOOM_BLESS_DOCS=1"
            );
        }
    }
    if bless {
        std::fs::write(&path, doc).unwrap();
    }
}

#[test]
fn docs_events_lists_every_field_and_reason() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/events.md")).unwrap();
    let fields = [
        "@timestamp",
        "ecs.version",
        "event.id",
        "event.kind",
        "event.category",
        "event.type",
        "event.action",
        "event.outcome",
        "event.reason",
        "event.duration",
        "source.ip",
        "source.port",
        "source.bytes",
        "destination.domain",
        "destination.ip",
        "destination.port",
        "destination.bytes",
        "tls.client.server_name",
        "http.request.method",
        "http.response.status_code",
        "url.original",
        "device.id",
        "organization.name",
        "user.id",
        "rule.id",
        "rule.name",
        "rule.ruleset",
        "rule.reference",
        "observer.name",
        "observer.type",
        "observer.product",
        "labels.coverage",
        "labels.ech",
        "labels.intercepted",
        "labels.acknowledged",
        "labels.policy_version",
        "labels.previous_policy_version",
        "message",
    ];
    for f in fields {
        assert!(doc.contains(&format!("`{f}`")), "docs/events.md does not document {f}");
    }
    let reasons = Reason::ALL;
    for r in reasons {
        assert!(
            doc.contains(&format!("`{}`", r.as_str())),
            "docs/events.md does not document reason {}",
            r.as_str()
        );
    }
}

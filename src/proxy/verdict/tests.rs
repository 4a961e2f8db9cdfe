//! Table tests: every combination of requested host, SNI, original address and first
//! bytes, for each coverage, with and without `require_sni_for_covered`.

use std::path::PathBuf;
use std::sync::Arc;

use time::macros::datetime;

use super::*;
use crate::policy::Policy;
use crate::registry::{Device, Share, Status};
use crate::rules::parse_files;

const NOW: OffsetDateTime = datetime!(2024-01-01 12:00 UTC);

fn rules() -> RuleIndex {
    parse_files(&[(
        PathBuf::from("tiktok.toml"),
        "id = \"tiktok\"\ntitle = \"TikTok\"\ndomains = [\"tiktok.com\"]\ncidrs = [\"192.0.2.0/24\"]\n".to_owned(),
    )])
    .unwrap()
}

/// Covered devices are blocked, advisory ones warned, private ones allowed.
fn policies() -> Vec<Policy> {
    vec![Policy {
        id: "p".into(),
        title: "t".into(),
        reference: "r".into(),
        authorities: vec!["federal".into()],
        rulesets: vec![0],
        covered: Action::Block,
        advisory: Action::Warn,
        private: Action::Allow,
        effective_from: datetime!(2023-03-10 00:00 +01:00),
        review_by: None,
        expires: None,
    }]
}

fn device(coverage: Coverage) -> Device {
    let (share, professional_use) = match coverage {
        Coverage::Covered => (Share::Full, false),
        Coverage::Advisory => (Share::None, true),
        Coverage::Private => (Share::None, false),
    };
    Device {
        id: Arc::from("d"),
        authority: Arc::from("federal"),
        organisation: None,
        owner: None,
        purchase: share,
        subscription: Share::None,
        usage: Share::None,
        professional_use,
        token_sha256: None,
        cert_sha256: None,
        addresses: Vec::new(),
        macs: Vec::new(),
        status: Status::Active,
        line: 2,
    }
}

/// What a case expects: pass with an action, or refuse with a reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Pass(Action),
    Refuse(Reason),
}

fn run(coverage: Coverage, require_sni: bool, known: Known<'_>) -> Want {
    let (policies, rules) = (policies(), rules());
    let r = Rules {
        policies: &policies,
        rules: &rules,
        require_sni_for_covered: require_sni,
    };
    let dev = device(coverage);
    match r.verdict(&Subject::Device(&dev), &known, NOW) {
        Verdict::Pass(d) => Want::Pass(d.action),
        Verdict::Refuse(_, reason) => Want::Refuse(reason),
    }
}

#[test]
fn every_host_and_address_for_every_coverage() {
    let tiktok = Host::parse("www.tiktok.com").unwrap();
    let cdn = Host::parse("cdn.example.net").unwrap();
    let literal = Host::parse("198.51.100.7").unwrap();
    let banned_ip: IpAddr = "192.0.2.9".parse().unwrap();
    let other_ip: IpAddr = "198.51.100.7".parse().unwrap();
    let k = |requested, sni, first_bytes, original| Known {
        requested,
        sni,
        first_bytes,
        original,
    };
    use Coverage::*;
    use Want::*;
    // (what, known, covered, advisory, private)
    let cases = [
        (
            "nothing known yet",
            k(None, None, false, None),
            Pass(Action::Allow),
            Pass(Action::Allow),
            Pass(Action::Allow),
        ),
        (
            "allowed CONNECT host",
            k(Some(&cdn), None, false, None),
            Pass(Action::Allow),
            Pass(Action::Allow),
            Pass(Action::Allow),
        ),
        (
            "banned CONNECT host",
            k(Some(&tiktok), None, false, None),
            Refuse(Reason::Policy),
            Pass(Action::Warn),
            Pass(Action::Allow),
        ),
        (
            "banned SNI alone (transparent)",
            k(None, Some(&tiktok), true, None),
            Refuse(Reason::Policy),
            Pass(Action::Warn),
            Pass(Action::Allow),
        ),
        (
            "banned SNI under an allowed name: fronting",
            k(Some(&cdn), Some(&tiktok), true, None),
            Refuse(Reason::DomainFronting),
            Pass(Action::Warn),
            Pass(Action::Allow),
        ),
        (
            "banned SNI under an IP literal: not fronting",
            k(Some(&literal), Some(&tiktok), true, None),
            Refuse(Reason::Policy),
            Pass(Action::Warn),
            Pass(Action::Allow),
        ),
        (
            "same banned name twice",
            k(Some(&tiktok), Some(&tiktok), true, None),
            Refuse(Reason::Policy),
            Pass(Action::Warn),
            Pass(Action::Allow),
        ),
        (
            "banned original address",
            k(None, Some(&cdn), true, Some(banned_ip)),
            Refuse(Reason::Policy),
            Pass(Action::Warn),
            Pass(Action::Allow),
        ),
        (
            "allowed original address and SNI",
            k(None, Some(&cdn), true, Some(other_ip)),
            Pass(Action::Allow),
            Pass(Action::Allow),
            Pass(Action::Allow),
        ),
        (
            "banned SNI at an allowed address",
            k(None, Some(&tiktok), true, Some(other_ip)),
            Refuse(Reason::Policy),
            Pass(Action::Warn),
            Pass(Action::Allow),
        ),
        (
            "no SNI, allowed address",
            k(None, None, true, Some(other_ip)),
            Pass(Action::Allow),
            Pass(Action::Allow),
            Pass(Action::Allow),
        ),
        (
            "no SNI, banned address",
            k(None, None, true, Some(banned_ip)),
            Refuse(Reason::Policy),
            Pass(Action::Warn),
            Pass(Action::Allow),
        ),
    ];
    for (what, known, covered, advisory, private) in cases {
        assert_eq!(run(Covered, false, known), covered, "{what}: covered");
        assert_eq!(run(Advisory, false, known), advisory, "{what}: advisory");
        assert_eq!(run(Private, false, known), private, "{what}: private");
    }
}

#[test]
fn require_sni_for_covered_refuses_first_bytes_without_sni() {
    let cdn = Host::parse("cdn.example.net").unwrap();
    let no_sni = Known {
        requested: Some(&cdn),
        sni: None,
        first_bytes: true,
        original: None,
    };
    assert_eq!(run(Coverage::Covered, true, no_sni), Want::Refuse(Reason::SniRequired));
    assert_eq!(run(Coverage::Advisory, true, no_sni), Want::Pass(Action::Allow));
    assert_eq!(run(Coverage::Covered, false, no_sni), Want::Pass(Action::Allow));
    // Before the first bytes nothing is missing yet; with an SNI nothing is missing.
    let before = Known {
        first_bytes: false,
        ..no_sni
    };
    assert_eq!(run(Coverage::Covered, true, before), Want::Pass(Action::Allow));
    let with_sni = Known {
        sni: Some(&cdn),
        ..no_sni
    };
    assert_eq!(run(Coverage::Covered, true, with_sni), Want::Pass(Action::Allow));
}

#[test]
fn the_strictest_decision_names_the_rule() {
    let (policies, rules) = (policies(), rules());
    let r = Rules {
        policies: &policies,
        rules: &rules,
        require_sni_for_covered: false,
    };
    let dev = device(Coverage::Advisory);
    let cdn = Host::parse("cdn.example.net").unwrap();
    let tiktok = Host::parse("m.tiktok.com").unwrap();
    let known = Known {
        requested: Some(&cdn),
        sni: Some(&tiktok),
        first_bytes: true,
        original: None,
    };
    let Verdict::Pass(d) = r.verdict(&Subject::Device(&dev), &known, NOW) else {
        panic!("advised, not refused");
    };
    assert_eq!(d.action, Action::Warn);
    let hit = d.hit.expect("the SNI's rule");
    assert_eq!(rules.rule(hit.rule).text, "tiktok.com");
}

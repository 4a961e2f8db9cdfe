//! Table tests: every coverage × action × policy window, authorities, strictness.

use std::path::PathBuf;
use std::sync::Arc;

use time::macros::datetime;

use super::*;
use crate::registry::{Share, Status};
use crate::rules::parse_files;

fn rules() -> RuleIndex {
    parse_files(&[
        (
            PathBuf::from("tiktok.toml"),
            "id = \"tiktok\"\ntitle = \"TikTok\"\ndomains = [\"tiktok.com\"]\n".to_owned(),
        ),
        (
            PathBuf::from("shared.toml"),
            "id = \"shared\"\ntitle = \"Shared\"\ndomains = [\"byteoversea.com\", \"tiktok.com\"]\n".to_owned(),
        ),
    ])
    .unwrap()
}

fn policy(id: &str, authority: &str, ruleset: RulesetId, actions: [Action; 3]) -> Policy {
    Policy {
        id: id.to_owned(),
        title: format!("{id} title"),
        reference: format!("{id} ref"),
        authorities: vec![authority.to_owned()],
        rulesets: vec![ruleset],
        covered: actions[0],
        advisory: actions[1],
        private: actions[2],
        effective_from: datetime!(2023-03-10 00:00 +01:00),
        review_by: Some(datetime!(2023-09-10 00:00 +02:00)),
        expires: Some(datetime!(2030-01-01 00:00 +01:00)),
    }
}

fn device(authority: &str, coverage: Coverage) -> Device {
    let (share, professional_use) = match coverage {
        Coverage::Covered => (Share::Partial, false),
        Coverage::Advisory => (Share::None, true),
        Coverage::Private => (Share::None, false),
    };
    Device {
        id: Arc::from("d"),
        authority: Arc::from(authority),
        organisation: None,
        owner: None,
        purchase: Share::None,
        subscription: share,
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

fn host(s: &str) -> Host {
    Host::parse(s).unwrap()
}

const BEFORE: OffsetDateTime = datetime!(2023-03-09 23:59:59 +01:00);
const START: OffsetDateTime = datetime!(2023-03-10 00:00 +01:00);
const IN_FORCE: OffsetDateTime = datetime!(2023-06-01 12:00 UTC);
const OVERDUE: OffsetDateTime = datetime!(2024-01-01 12:00 UTC);
const EXPIRED: OffsetDateTime = datetime!(2030-01-01 00:00 +01:00);

#[test]
fn every_coverage_action_and_window() {
    let rules = rules();
    let actions = [Action::Allow, Action::Warn, Action::Report, Action::Block];
    let windows = [
        (BEFORE, false),
        (START, true),
        (IN_FORCE, true),
        (OVERDUE, true),
        (EXPIRED, false),
    ];
    for coverage in Coverage::ALL {
        for action in actions {
            for (now, in_force) in windows {
                let mut acts = [Action::Allow; 3];
                let slot = Coverage::ALL.iter().position(|c| *c == coverage).unwrap();
                acts[slot] = action;
                let policies = vec![policy("p", "federal", 0, acts)];
                let dev = device("federal", coverage);
                let got = decide(&policies, &rules, &Subject::Device(&dev), &host("www.tiktok.com"), now);
                let want = if in_force { action } else { Action::Allow };
                assert_eq!(got.action, want, "{coverage} {action:?} at {now}");
                assert_eq!(got.coverage, coverage);
                assert_eq!(got.hit.is_some(), in_force, "{coverage} {action:?} at {now}");
                if let Some(hit) = got.hit {
                    assert_eq!((hit.policy, hit.ruleset), (0, 0));
                    assert_eq!(rules.rule(hit.rule).text, "tiktok.com");
                }
                // Hosts no ruleset lists are always allowed, with no hit.
                let other = decide(&policies, &rules, &Subject::Device(&dev), &host("example.org"), now);
                assert_eq!((other.action, other.hit), (Action::Allow, None));
            }
        }
    }
}

#[test]
fn review_date_keeps_enforcing() {
    let p = policy("p", "federal", 0, [Action::Block, Action::Warn, Action::Allow]);
    assert_eq!(p.window(IN_FORCE), Window::InForce { overdue: false });
    assert_eq!(p.window(OVERDUE), Window::InForce { overdue: true });
    assert_eq!(p.window(BEFORE), Window::NotYet);
    assert_eq!(p.window(EXPIRED), Window::Expired);
    let mut open = p.clone();
    open.expires = None;
    assert_eq!(
        open.window(datetime!(2099-01-01 00:00 UTC)),
        Window::InForce { overdue: true }
    );
}

#[test]
fn only_the_paying_authority_counts() {
    let rules = rules();
    let policies = vec![policy(
        "fed",
        "federal",
        0,
        [Action::Block, Action::Warn, Action::Allow],
    )];
    let flemish = device("flanders", Coverage::Covered);
    let d = decide(
        &policies,
        &rules,
        &Subject::Device(&flemish),
        &host("tiktok.com"),
        IN_FORCE,
    );
    assert_eq!((d.action, d.hit), (Action::Allow, None));
    // An unknown device treated as covered falls under every authority's policy.
    let u = decide(
        &policies,
        &rules,
        &Subject::Unknown(UnknownDevice::Covered),
        &host("tiktok.com"),
        IN_FORCE,
    );
    assert_eq!(u.action, Action::Block);
    let a = decide(
        &policies,
        &rules,
        &Subject::Unknown(UnknownDevice::Allow),
        &host("tiktok.com"),
        IN_FORCE,
    );
    assert_eq!((a.action, a.coverage), (Action::Allow, Coverage::Private));
}

#[test]
fn strictest_policy_wins_and_first_breaks_ties() {
    let rules = rules();
    let policies = vec![
        policy("warn", "federal", 0, [Action::Warn, Action::Warn, Action::Warn]),
        policy("block", "federal", 1, [Action::Block, Action::Allow, Action::Allow]),
        policy("block2", "federal", 0, [Action::Block, Action::Allow, Action::Allow]),
    ];
    let dev = device("federal", Coverage::Covered);
    let d = decide(
        &policies,
        &rules,
        &Subject::Device(&dev),
        &host("m.tiktok.com"),
        IN_FORCE,
    );
    assert_eq!(d.action, Action::Block);
    assert_eq!(d.hit.map(|h| (h.policy, h.ruleset)), Some((1, 1)));
    let adv = device("federal", Coverage::Advisory);
    let d = decide(
        &policies,
        &rules,
        &Subject::Device(&adv),
        &host("m.tiktok.com"),
        IN_FORCE,
    );
    assert_eq!((d.action, d.hit.map(|h| h.policy)), (Action::Warn, Some(0)));
    // byteoversea is only in the second ruleset.
    let d = decide(
        &policies,
        &rules,
        &Subject::Device(&dev),
        &host("sf.byteoversea.com"),
        IN_FORCE,
    );
    assert_eq!(d.hit.map(|h| h.policy), Some(1));
}

#[test]
fn explain_agrees_with_decide() {
    let rules = rules();
    let policies = vec![
        policy("fed", "federal", 0, [Action::Block, Action::Warn, Action::Allow]),
        policy("vl", "flanders", 0, [Action::Block, Action::Warn, Action::Allow]),
    ];
    let dev = device("federal", Coverage::Advisory);
    let e = explain(
        &policies,
        &rules,
        &Subject::Device(&dev),
        &host("www.tiktok.com"),
        OVERDUE,
    );
    assert_eq!(
        e.decision,
        decide(
            &policies,
            &rules,
            &Subject::Device(&dev),
            &host("www.tiktok.com"),
            OVERDUE
        )
    );
    assert_eq!(e.decision.action, Action::Warn);
    assert_eq!(e.policies.len(), 2);
    assert!(e.policies[0].applies && !e.policies[1].applies);
    assert_eq!(e.policies[0].window, Window::InForce { overdue: true });
    assert_eq!(e.matches.len(), 2);
}

/// Block > report > warn > allow, whatever the order of the policies (SPEC §5).
#[test]
fn report_sits_between_block_and_warn() {
    let rules = rules();
    let dev = device("federal", Coverage::Covered);
    let all = [Action::Allow, Action::Warn, Action::Report, Action::Block];
    for a in all {
        for b in all {
            for (first, second) in [(a, b), (b, a)] {
                let policies = vec![
                    policy("one", "federal", 0, [first, Action::Allow, Action::Allow]),
                    policy("two", "federal", 0, [second, Action::Allow, Action::Allow]),
                ];
                let d = decide(
                    &policies,
                    &rules,
                    &Subject::Device(&dev),
                    &host("www.tiktok.com"),
                    IN_FORCE,
                );
                assert_eq!(d.action, a.max(b), "{first:?} with {second:?}");
                if d.action != Action::Allow {
                    let winner = d.hit.unwrap().policy;
                    let acts = [first, second];
                    assert_eq!(acts[winner], d.action, "the strictest policy names the rule");
                }
            }
        }
    }
    assert!(Action::Block > Action::Report && Action::Report > Action::Warn && Action::Warn > Action::Allow);
}

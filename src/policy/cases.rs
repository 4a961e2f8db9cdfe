//! Policy tests (SPEC §14): `[[case]]` tables naming a device (or inline facts), a host,
//! a time and the expected action, optionally the deciding policy and the matched rule.
//! Each is decided by the same pure function as traffic ([`decide`](super::decide)).
//!
//! A case file that does not parse, names an unknown device or field, or holds an
//! invalid host or time is an error at `file:line`.

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use time::OffsetDateTime;
use toml::Spanned;

use super::{decide, Action};
use crate::config::{line_of, parse_toml, LoadError};
use crate::host::Host;
use crate::policy::Subject;
use crate::registry::{Device, Share, Status};
use crate::state::Snapshot;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    case: Vec<Spanned<RawCase>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: String,
    device: Option<String>,
    authority: Option<String>,
    purchase: Option<String>,
    subscription: Option<String>,
    usage: Option<String>,
    professional_use: Option<bool>,
    host: String,
    at: String,
    expect: String,
    policy: Option<String>,
    rule: Option<String>,
}

/// What a case expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    Action(Action),
    /// The device is retired or lost: refused before any policy (`refused` event).
    Refuse,
}

impl Expected {
    fn as_str(&self) -> &'static str {
        match self {
            Expected::Action(a) => a.as_str(),
            Expected::Refuse => "refuse",
        }
    }
}

/// One case, checked.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    /// `file:line` of its table.
    pub at_line: String,
    device: Arc<Device>,
    host: Host,
    at: OffsetDateTime,
    expect: Expected,
    policy: Option<String>,
    rule: Option<String>,
}

/// How a case went: `None` when it passed, else what came instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub expected: String,
    pub got: String,
}

fn share(s: Option<&str>) -> Result<Share, String> {
    let text = s.unwrap_or("none");
    Share::parse(text).ok_or_else(|| format!("{text:?} must be none, partial or full"))
}

/// Reads the cases of one file against `snap` (its registry names the devices).
///
/// # Errors
///
/// `file:line: reason` for the first malformed case.
pub fn load(path: &Path, text: &str, snap: &Snapshot) -> Result<Vec<Case>, LoadError> {
    let file: File = parse_toml(path, text)?;
    let mut cases = Vec::with_capacity(file.case.len());
    for spanned in file.case {
        let line = line_of(text, spanned.span().start);
        let err = |reason: String| LoadError::new(path, line, reason);
        let raw = spanned.into_inner();
        let device = match (&raw.device, &raw.authority) {
            (Some(id), None) => {
                let d = snap
                    .registry
                    .by_id(id)
                    .ok_or_else(|| err(format!("device {id:?} is not in the registry")))?;
                Arc::new(snap.registry.device(d).clone())
            }
            (None, Some(authority)) => Arc::new(Device {
                id: Arc::from("inline"),
                authority: Arc::from(authority.as_str()),
                organisation: None,
                owner: None,
                purchase: share(raw.purchase.as_deref()).map_err(|e| err(format!("purchase {e}")))?,
                subscription: share(raw.subscription.as_deref()).map_err(|e| err(format!("subscription {e}")))?,
                usage: share(raw.usage.as_deref()).map_err(|e| err(format!("usage {e}")))?,
                professional_use: raw.professional_use.unwrap_or(false),
                token_sha256: None,
                cert_sha256: None,
                addresses: Vec::new(),
                macs: Vec::new(),
                status: Status::Active,
                line,
            }),
            (Some(_), Some(_)) => return Err(err("a case names a device or inline facts, not both".into())),
            (None, None) => return Err(err("a case needs a device or an authority".into())),
        };
        if raw.device.is_some()
            && (raw.purchase.is_some()
                || raw.subscription.is_some()
                || raw.usage.is_some()
                || raw.professional_use.is_some())
        {
            return Err(err(
                "shares and professional_use go with inline facts, not with a device".into(),
            ));
        }
        let host = Host::parse(&raw.host).map_err(|e| err(format!("host {:?}: {e}", raw.host)))?;
        let at = OffsetDateTime::parse(&raw.at, &time::format_description::well_known::Rfc3339)
            .map_err(|e| err(format!("at {:?}: {e}", raw.at)))?;
        let expect = match raw.expect.as_str() {
            "block" => Expected::Action(Action::Block),
            "report" => Expected::Action(Action::Report),
            "warn" => Expected::Action(Action::Warn),
            "allow" => Expected::Action(Action::Allow),
            "refuse" => Expected::Refuse,
            other => {
                return Err(err(format!(
                    "expect {other:?} must be block, report, warn, allow or refuse"
                )))
            }
        };
        if let Some(p) = &raw.policy {
            if !snap.policies.iter().any(|x| &x.id == p) {
                return Err(err(format!("policy {p:?} is not configured")));
            }
        }
        cases.push(Case {
            name: raw.name,
            at_line: format!("{}:{line}", path.display()),
            device,
            host,
            at,
            expect,
            policy: raw.policy,
            rule: raw.rule,
        });
    }
    Ok(cases)
}

impl Case {
    /// Decides the case; `None` when it came as expected.
    pub fn run(&self, snap: &Snapshot) -> Option<Outcome> {
        let describe = |action: &str, policy: Option<&str>, rule: Option<(&str, &str)>| {
            let mut s = action.to_owned();
            if let Some(p) = policy {
                s.push_str(&format!(" by {p}"));
            }
            if let Some((ruleset, rule)) = rule {
                s.push_str(&format!(" ({ruleset}/{rule})"));
            }
            s
        };
        let expected = describe(
            self.expect.as_str(),
            self.policy.as_deref(),
            self.rule.as_deref().map(|r| ("…", r)),
        );
        if matches!(self.device.status, Status::Retired | Status::Lost) {
            let got = format!(
                "refuse ({})",
                if self.device.status == Status::Lost {
                    "lost"
                } else {
                    "retired"
                }
            );
            return (self.expect != Expected::Refuse).then_some(Outcome { expected, got });
        }
        let d = decide(
            &snap.policies,
            &snap.rules,
            &Subject::Device(&self.device),
            &self.host,
            self.at,
        );
        let hit = d.hit.map(|h| {
            (
                snap.policies[h.policy].id.as_str(),
                snap.rules.ruleset(h.ruleset).id.as_str(),
                snap.rules.rule(h.rule).text.as_str(),
            )
        });
        let ok = self.expect == Expected::Action(d.action)
            && self.policy.as_deref().is_none_or(|p| hit.is_some_and(|h| h.0 == p))
            && self.rule.as_deref().is_none_or(|r| hit.is_some_and(|h| h.2 == r));
        if ok {
            return None;
        }
        let got = describe(d.action.as_str(), hit.map(|h| h.0), hit.map(|h| (h.1, h.2)));
        Some(Outcome { expected, got })
    }
}

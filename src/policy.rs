//! Policies and the decision: a pure function of the snapshot, the subject, the host and
//! the time, with its reasons. The same function serves traffic, `slagboom explain` and
//! the table tests.
//!
//! Decision = the strictest action (block > warn > allow) of the policies in force for
//! the device's authority whose rulesets match the host. A policy is in force from
//! `effective_from` until `expires` (if set); past `review_by` it keeps enforcing and is
//! reported as overdue.

use time::OffsetDateTime;

pub use crate::config::{Action, UnknownDevice};

pub mod cases;
pub mod impact;
use crate::config::{LoadError, PolicyConfig};
use crate::host::Host;
use crate::registry::{Coverage, Device};
use crate::rules::{index::RuleId, Match, RuleIndex, RulesetId};

/// A policy with its rulesets resolved.
#[derive(Debug, Clone)]
pub struct Policy {
    pub id: String,
    pub title: String,
    pub reference: String,
    pub authorities: Vec<String>,
    pub rulesets: Vec<RulesetId>,
    pub covered: Action,
    pub advisory: Action,
    pub private: Action,
    pub effective_from: OffsetDateTime,
    pub review_by: Option<OffsetDateTime>,
    pub expires: Option<OffsetDateTime>,
}

/// Where a policy stands at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    NotYet,
    InForce { overdue: bool },
    Expired,
}

impl Policy {
    /// Resolves a configured policy against the loaded rulesets.
    pub fn resolve(cfg: &PolicyConfig, rules: &RuleIndex, config_file: &std::path::Path) -> Result<Policy, LoadError> {
        let mut rulesets = Vec::new();
        for (name, line) in &cfg.rulesets {
            let id = rules.ruleset_by_id(name).ok_or_else(|| {
                LoadError::new(
                    config_file,
                    *line,
                    format!("policy {:?} names unknown ruleset {name:?}", cfg.id),
                )
            })?;
            rulesets.push(id);
        }
        Ok(Policy {
            id: cfg.id.clone(),
            title: cfg.title.clone(),
            reference: cfg.reference.clone(),
            authorities: cfg.authorities.clone(),
            rulesets,
            covered: cfg.covered,
            advisory: cfg.advisory,
            private: cfg.private,
            effective_from: cfg.effective_from,
            review_by: cfg.review_by,
            expires: cfg.expires,
        })
    }

    pub fn window(&self, now: OffsetDateTime) -> Window {
        if now < self.effective_from {
            Window::NotYet
        } else if self.expires.is_some_and(|e| now >= e) {
            Window::Expired
        } else {
            Window::InForce {
                overdue: self.review_by.is_some_and(|r| now >= r),
            }
        }
    }

    pub fn action_for(&self, coverage: Coverage) -> Action {
        match coverage {
            Coverage::Covered => self.covered,
            Coverage::Advisory => self.advisory,
            Coverage::Private => self.private,
        }
    }

    /// True when the policy applies to devices paid for by `authority` (`None`: an
    /// unknown device treated as covered by every authority).
    pub fn applies_to(&self, authority: Option<&str>) -> bool {
        match authority {
            None => true,
            Some(a) => self.authorities.iter().any(|p| p == a),
        }
    }
}

/// Who the traffic comes from, as far as policy is concerned.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    Device(&'a Device),
    /// No credential and no address match, let through by `[auth] unknown_device`.
    Unknown(UnknownDevice),
}

impl Subject<'_> {
    pub fn coverage(&self) -> Coverage {
        match self {
            Subject::Device(d) => d.coverage(),
            Subject::Unknown(UnknownDevice::Covered) | Subject::Unknown(UnknownDevice::Deny) => Coverage::Covered,
            Subject::Unknown(UnknownDevice::Allow) => Coverage::Private,
        }
    }

    /// `None` for an unknown device: every authority's policies apply.
    fn authority(&self) -> Option<&str> {
        match self {
            Subject::Device(d) => Some(&d.authority),
            Subject::Unknown(_) => None,
        }
    }
}

/// The policy, ruleset and rule behind a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub policy: usize,
    pub ruleset: RulesetId,
    pub rule: RuleId,
}

/// The outcome for one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    pub coverage: Coverage,
    /// The deciding policy and rule; `None` when no policy in force matched.
    pub hit: Option<Hit>,
}

/// Decides for `host`.
pub fn decide(
    policies: &[Policy],
    rules: &RuleIndex,
    subject: &Subject<'_>,
    host: &Host,
    now: OffsetDateTime,
) -> Decision {
    let matches = rules.lookup(host);
    decide_matches(policies, subject, &matches, now)
}

/// Decides for matches already looked up (a host, or a resolved address).
pub fn decide_matches(policies: &[Policy], subject: &Subject<'_>, matches: &[Match], now: OffsetDateTime) -> Decision {
    let coverage = subject.coverage();
    let mut decision = Decision {
        action: Action::Allow,
        coverage,
        hit: None,
    };
    if matches.is_empty() {
        return decision;
    }
    for (i, policy) in policies.iter().enumerate() {
        if !matches!(policy.window(now), Window::InForce { .. }) || !policy.applies_to(subject.authority()) {
            continue;
        }
        let Some(m) = matches.iter().find(|m| policy.rulesets.contains(&m.ruleset)) else {
            continue;
        };
        let action = policy.action_for(coverage);
        if decision.hit.is_none() || action > decision.action {
            decision.action = action;
            decision.hit = Some(Hit {
                policy: i,
                ruleset: m.ruleset,
                rule: m.rule,
            });
        }
    }
    decision
}

/// Why each policy did or did not take part in a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyTrace {
    pub policy: usize,
    pub window: Window,
    pub applies: bool,
    pub matched: Option<Match>,
    pub action: Action,
}

/// The decision with one trace line per policy (for `explain`).
#[derive(Debug, Clone)]
pub struct Explanation {
    pub decision: Decision,
    pub matches: Vec<Match>,
    pub policies: Vec<PolicyTrace>,
}

/// Decides exactly as [`decide`] does, and records every policy's part in it.
pub fn explain(
    policies: &[Policy],
    rules: &RuleIndex,
    subject: &Subject<'_>,
    host: &Host,
    now: OffsetDateTime,
) -> Explanation {
    let matches = rules.lookup(host);
    let decision = decide_matches(policies, subject, &matches, now);
    let coverage = subject.coverage();
    let traces = policies
        .iter()
        .enumerate()
        .map(|(i, p)| PolicyTrace {
            policy: i,
            window: p.window(now),
            applies: p.applies_to(subject.authority()),
            matched: matches.iter().find(|m| p.rulesets.contains(&m.ruleset)).copied(),
            action: p.action_for(coverage),
        })
        .collect();
    Explanation {
        decision,
        matches,
        policies: traces,
    }
}

#[cfg(test)]
mod tests;

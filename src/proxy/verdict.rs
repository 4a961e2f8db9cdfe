//! The verdict on where a connection goes: a pure function of the policies, the
//! rulesets, the subject, what is known of the target, and the time. No I/O.
//!
//! Every front door asks it with what it has learnt so far: the explicit proxy first
//! with the CONNECT host (or the URI host), then again once the ClientHello is read;
//! the transparent listener with the original destination address and the SNI or
//! `Host`. The strictest decision of every host and address known wins (SPEC §5, §6):
//! - a blocked requested host (CONNECT host, URI or `Host`): `policy`;
//! - a blocked SNI: `domain_fronting` when it hides under an allowed, different
//!   requested name, `policy` otherwise;
//! - a blocked original destination address (a ruleset's `cidrs`): `policy`;
//! - first bytes without an SNI from a covered device, under
//!   `require_sni_for_covered`: `sni_required`.

use std::net::IpAddr;

use time::OffsetDateTime;

use crate::events::Reason;
use crate::host::Host;
use crate::policy::{self, Action, Decision, Policy, Subject};
use crate::registry::Coverage;
use crate::rules::RuleIndex;

/// What is known of the target so far.
#[derive(Debug, Clone, Copy, Default)]
pub struct Known<'h> {
    /// The host the client asked for: the CONNECT host, the URI host or `Host`.
    pub requested: Option<&'h Host>,
    /// The ClientHello's server name.
    pub sni: Option<&'h Host>,
    /// True once the client's first bytes were read (a ClientHello, or bytes that are
    /// not TLS); `sni: None` then means "no SNI was sent".
    pub first_bytes: bool,
    /// The original destination address (transparent mode).
    pub original: Option<IpAddr>,
}

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go on; the decision says whether it is allowed or advised (and which rule).
    Pass(Decision),
    /// Refused, with the decision that refused it (no rule for `sni_required`).
    Refuse(Decision, Reason),
}

/// The rules the verdict applies.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'s> {
    pub policies: &'s [Policy],
    pub rules: &'s RuleIndex,
    pub require_sni_for_covered: bool,
}

impl Rules<'_> {
    /// The verdict on everything `known`, for `subject`, at `now`.
    pub fn verdict(&self, subject: &Subject<'_>, known: &Known<'_>, now: OffsetDateTime) -> Verdict {
        let decide = |host: &Host| policy::decide(self.policies, self.rules, subject, host, now);
        let nothing = Decision {
            action: Action::Allow,
            coverage: subject.coverage(),
            hit: None,
        };
        let mut strictest = nothing;
        if let Some(host) = known.requested {
            let d = decide(host);
            if d.action == Action::Block {
                return Verdict::Refuse(d, Reason::Policy);
            }
            strictest = stricter(strictest, d);
        }
        if let Some(sni) = known.sni {
            let d = decide(sni);
            if d.action == Action::Block {
                let fronting = known.requested.is_some_and(|r| r.name().is_some() && r != sni);
                let reason = if fronting {
                    Reason::DomainFronting
                } else {
                    Reason::Policy
                };
                return Verdict::Refuse(d, reason);
            }
            strictest = stricter(strictest, d);
        }
        if let Some(ip) = known.original {
            let matches = self.rules.lookup_ip(ip);
            let d = policy::decide_matches(self.policies, subject, &matches, now);
            if d.action == Action::Block {
                return Verdict::Refuse(d, Reason::Policy);
            }
            strictest = stricter(strictest, d);
        }
        if known.first_bytes
            && known.sni.is_none()
            && self.require_sni_for_covered
            && subject.coverage() == Coverage::Covered
        {
            return Verdict::Refuse(nothing, Reason::SniRequired);
        }
        Verdict::Pass(strictest)
    }
}

/// The stricter of two decisions (the first on a tie, so the earliest host names the rule).
fn stricter(a: Decision, b: Decision) -> Decision {
    if b.action > a.action {
        b
    } else {
        a
    }
}

#[cfg(test)]
mod tests;

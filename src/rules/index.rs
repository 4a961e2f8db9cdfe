//! The compiled rule index: a hash map per suffix for `domains`, one for `exact`, one
//! `RegexSet` for all `patterns` and a longest-prefix table for `cidrs`.
//!
//! A name lookup probes the map once per label suffix of the host (`a.b.c`, `b.c`, `c`),
//! so its cost depends on the host, never on how many domains are listed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;
use regex::RegexSet;

use super::{Rule, RuleKind, Ruleset, RulesetId};
use crate::host::Host;
use crate::prefix::PrefixTable;

/// Index of a rule in [`RuleIndex::rule`].
pub type RuleId = u32;

/// The rule of one ruleset that matched a host: the most specific one (exact, then the
/// longest domain, then the first pattern, then the longest CIDR).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    pub ruleset: RulesetId,
    pub rule: RuleId,
}

/// All rulesets, compiled.
#[derive(Debug)]
pub struct RuleIndex {
    rulesets: Vec<Ruleset>,
    rules: Vec<Rule>,
    domains: HashMap<Box<str>, Vec<RuleId>>,
    exact: HashMap<Box<str>, Vec<RuleId>>,
    patterns: RegexSet,
    pattern_rules: Vec<RuleId>,
    cidrs: PrefixTable<Vec<RuleId>>,
}

impl RuleIndex {
    /// The rulesets, in load order.
    pub fn rulesets(&self) -> &[Ruleset] {
        &self.rulesets
    }

    /// The ruleset with this id.
    pub fn ruleset_by_id(&self, id: &str) -> Option<RulesetId> {
        self.rulesets.iter().position(|r| r.id == id)
    }

    pub fn ruleset(&self, id: RulesetId) -> &Ruleset {
        &self.rulesets[id]
    }

    /// Every entry of every ruleset.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn rule(&self, id: RuleId) -> &Rule {
        &self.rules[id as usize]
    }

    /// Every ruleset that matches `host`, with its most specific rule, in ruleset order.
    /// Allocates only when something matches.
    pub fn lookup(&self, host: &Host) -> Vec<Match> {
        let mut out = Vec::new();
        match host.ip() {
            Some(ip) => self.lookup_ip_into(ip, &mut out),
            None => self.lookup_name_into(host.as_str(), &mut out),
        }
        out.sort_by_key(|m| m.ruleset);
        out
    }

    /// Every ruleset whose `cidrs` hold `ip` (used for resolved addresses).
    pub fn lookup_ip(&self, ip: IpAddr) -> Vec<Match> {
        let mut out = Vec::new();
        self.lookup_ip_into(ip, &mut out);
        out.sort_by_key(|m| m.ruleset);
        out
    }

    /// True when some ruleset has CIDRs, so resolved addresses need a look.
    pub fn has_cidrs(&self) -> bool {
        !self.cidrs.is_empty()
    }

    fn lookup_name_into(&self, name: &str, out: &mut Vec<Match>) {
        if let Some(ids) = self.exact.get(name) {
            self.push_new(ids, out);
        }
        let mut suffix = name;
        loop {
            if let Some(ids) = self.domains.get(suffix) {
                self.push_new(ids, out);
            }
            match suffix.find('.') {
                Some(dot) => suffix = &suffix[dot + 1..],
                None => break,
            }
        }
        if !self.pattern_rules.is_empty() && self.patterns.is_match(name) {
            for i in self.patterns.matches(name).iter() {
                self.push_new(&self.pattern_rules[i..=i], out);
            }
        }
    }

    fn lookup_ip_into(&self, ip: IpAddr, out: &mut Vec<Match>) {
        if let Some(ids) = self.cidrs.lookup(ip) {
            self.push_new(ids, out);
        }
    }

    /// Adds the rules whose ruleset has no match yet (earlier calls are more specific).
    fn push_new(&self, ids: &[RuleId], out: &mut Vec<Match>) {
        for &rule in ids {
            let ruleset = self.rules[rule as usize].ruleset;
            if !out.iter().any(|m| m.ruleset == ruleset) {
                out.push(Match { ruleset, rule });
            }
        }
    }
}

/// Collects rulesets, then compiles them.
#[derive(Debug, Default)]
pub(crate) struct Builder {
    rulesets: Vec<Ruleset>,
    rules: Vec<Rule>,
    cidr_nets: Vec<(IpNet, RuleId)>,
}

impl Builder {
    pub(crate) fn has_ruleset(&self, id: &str) -> bool {
        self.rulesets.iter().any(|r| r.id == id)
    }

    pub(crate) fn add_ruleset(&mut self, id: &str, title: &str, file: &Path) -> RulesetId {
        self.rulesets.push(Ruleset {
            id: id.to_owned(),
            title: title.to_owned(),
            file: file.to_path_buf(),
            rules: 0,
        });
        self.rulesets.len() - 1
    }

    pub(crate) fn add(&mut self, ruleset: RulesetId, kind: RuleKind, text: String) -> RuleId {
        self.rulesets[ruleset].rules += 1;
        self.rules.push(Rule { ruleset, kind, text });
        (self.rules.len() - 1) as RuleId
    }

    pub(crate) fn add_cidr(&mut self, ruleset: RulesetId, net: IpNet) {
        let id = self.add(ruleset, RuleKind::Cidr, net.to_string());
        self.cidr_nets.push((net, id));
    }

    /// Compiles the index. The error names the ruleset whose patterns failed together
    /// (the set can exceed the regex size limit even when each pattern compiles).
    pub(crate) fn build(&self) -> Result<RuleIndex, (RulesetId, String)> {
        let mut domains: HashMap<Box<str>, Vec<RuleId>> = HashMap::new();
        let mut exact: HashMap<Box<str>, Vec<RuleId>> = HashMap::new();
        let mut pattern_text = Vec::new();
        let mut pattern_rules = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            let id = i as RuleId;
            match rule.kind {
                RuleKind::Domain => domains.entry(rule.text.as_str().into()).or_default().push(id),
                RuleKind::Exact => exact.entry(rule.text.as_str().into()).or_default().push(id),
                RuleKind::Pattern => {
                    pattern_text.push(format!("^(?:{})$", rule.text));
                    pattern_rules.push(id);
                }
                RuleKind::Cidr => {}
            }
        }
        let patterns = RegexSet::new(&pattern_text).map_err(|e| {
            let rs = pattern_rules.first().map_or(0, |&r| self.rules[r as usize].ruleset);
            (rs, format!("patterns do not compile together: {e}"))
        })?;
        let mut by_net: HashMap<IpNet, Vec<RuleId>> = HashMap::new();
        for (net, id) in &self.cidr_nets {
            by_net.entry(*net).or_default().push(*id);
        }
        let mut cidrs = PrefixTable::default();
        for (net, ids) in by_net {
            cidrs.insert(net, ids);
        }
        Ok(RuleIndex {
            rulesets: self.rulesets.clone(),
            rules: self.rules.clone(),
            domains,
            exact,
            patterns,
            pattern_rules,
            cidrs,
        })
    }
}

//! The policy version (SPEC §14): 16 hex digits of a SHA-256 over a canonical form of
//! what decides traffic — the policies, the rulesets and the registry. The canonical
//! form lists everything in a fixed order (sorted by id, lists sorted where their order
//! means nothing), so key order, whitespace, comments and the order of rows or entries
//! in a file do not change the version; any change of meaning does.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::registry::Registry;
use crate::rules::RuleIndex;

/// The canonical form of what decides traffic, built once per snapshot: a digest per
/// policy and per device (by id), and every rule entry. The version hashes it; a
/// `config_changed` summary compares two of them without building either again.
#[derive(Debug, Default)]
pub struct Canonical {
    policies: BTreeMap<String, u64>,
    /// Rule entries as `ruleset kind text`.
    rules: BTreeSet<String>,
    /// Ruleset titles (part of the version, not of the summary's rule count).
    titles: BTreeSet<String>,
    devices: BTreeMap<Arc<str>, u64>,
}

/// The first 8 bytes of the SHA-256 of an item's canonical JSON.
fn digest(v: &Value) -> u64 {
    let d = Sha256::digest(v.to_string().as_bytes());
    u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

impl Canonical {
    pub fn of(config: &Config, rules: &RuleIndex, registry: &Registry) -> Canonical {
        Canonical {
            policies: policy_items(config),
            rules: rule_items(rules),
            titles: rules
                .rulesets()
                .iter()
                .map(|rs| format!("{} {}", rs.id, rs.title))
                .collect(),
            devices: device_items(registry),
        }
    }

    /// The policy version: 16 hex digits.
    pub fn version(&self) -> String {
        let mut h = Sha256::new();
        for (id, d) in &self.policies {
            h.update(format!("policy {id} {d:016x}\n"));
        }
        for t in &self.titles {
            h.update(format!("title {t}\n"));
        }
        for r in &self.rules {
            h.update(format!("rule {r}\n"));
        }
        for (id, d) in &self.devices {
            h.update(format!("device {id} {d:016x}\n"));
        }
        hex::encode(&h.finalize()[..8])
    }
}

/// What changed from `old` to `new` (the `message` of a `config_changed` event):
/// `policies +A -R ~C; rules +A -R; devices +A -R ~C`. Without `old`, everything is new.
pub fn summary(old: Option<&Canonical>, new: &Canonical) -> String {
    let empty = Canonical::default();
    let old = old.unwrap_or(&empty);
    let (pa, pr, pc) = map_diff(&old.policies, &new.policies);
    let ra = new.rules.difference(&old.rules).count();
    let rr = old.rules.difference(&new.rules).count();
    let (da, dr, dc) = map_diff(&old.devices, &new.devices);
    format!("policies +{pa} -{pr} ~{pc}; rules +{ra} -{rr}; devices +{da} -{dr} ~{dc}")
}

/// (added, removed, changed) keys from `old` to `new`.
fn map_diff<K: Ord>(old: &BTreeMap<K, u64>, new: &BTreeMap<K, u64>) -> (usize, usize, usize) {
    let added = new.keys().filter(|k| !old.contains_key(*k)).count();
    let removed = old.keys().filter(|k| !new.contains_key(*k)).count();
    let changed = new.iter().filter(|(k, v)| old.get(*k).is_some_and(|o| o != *v)).count();
    (added, removed, changed)
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort_unstable();
    v
}

/// Each policy's canonical form, by id.
fn policy_items(config: &Config) -> BTreeMap<String, u64> {
    let time = |t: &time::OffsetDateTime| t.unix_timestamp();
    config
        .policies
        .iter()
        .map(|p| {
            let v: Value = json!([
                p.title,
                sorted(p.authorities.clone()),
                sorted(p.rulesets.iter().map(|(name, _)| name.clone()).collect()),
                p.covered.as_str(),
                p.advisory.as_str(),
                p.private.as_str(),
                time(&p.effective_from),
                p.review_by.as_ref().map(time),
                p.expires.as_ref().map(time),
                p.reference,
            ]);
            (p.id.clone(), digest(&v))
        })
        .collect()
}

/// Every rule entry (domain, exact host, pattern, CIDR) as `ruleset kind text`.
fn rule_items(rules: &RuleIndex) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (index, rs) in rules.rulesets().iter().enumerate() {
        for r in rules.rules().iter().filter(|r| r.ruleset == index) {
            out.insert(format!("{} {:?} {}", rs.id, r.kind, r.text));
        }
    }
    out
}

/// Each device's canonical form, by id.
fn device_items(registry: &Registry) -> BTreeMap<Arc<str>, u64> {
    registry
        .devices()
        .iter()
        .map(|d| {
            let v: Value = json!([
                &*d.authority,
                d.organisation.as_deref(),
                d.owner.as_deref(),
                format!("{:?} {:?} {:?}", d.purchase, d.subscription, d.usage),
                d.professional_use,
                d.token_sha256.map(hex::encode),
                d.cert_sha256.map(hex::encode),
                sorted(d.addresses.iter().map(ToString::to_string).collect()),
                sorted(d.macs.iter().map(|m| m.ecs()).collect()),
                format!("{:?}", d.status),
            ]);
            (d.id.clone(), digest(&v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::state::Snapshot;

    const RULES: &str =
        "id = \"t\"\ntitle = \"T\"\ndomains = [\"tiktok.com\", \"tiktokv.com\"]\nexact = [\"a.example\"]\n";
    const CONFIG: &str = "[registry]\nsource = \"devices.csv\"\n[rules]\ndir = \"rules\"\n[log]\nspool_dir = \"spool\"\n\
        [[policy]]\nid = \"fed\"\ntitle = \"Federal\"\nauthorities = [\"federal\", \"flanders\"]\nrulesets = [\"t\"]\n\
        covered = \"block\"\nadvisory = \"warn\"\nprivate = \"allow\"\neffective_from = \"2023-03-10T00:00:00+01:00\"\nreference = \"NSC\"\n";
    const DEVICES: &str = "device_id,authority,purchase,subscription,usage,addresses,status\n\
        a,federal,full,none,none,10.0.0.1 10.0.0.2,active\nb,flanders,none,none,none,,active\n";

    /// The version of a configuration directory made of these three files.
    fn version(config: &str, rules: &str, devices: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("rules")).unwrap();
        std::fs::write(d.join("rules/t.toml"), rules).unwrap();
        std::fs::write(d.join("devices.csv"), devices).unwrap();
        std::fs::write(d.join("slagboom.toml"), config).unwrap();
        let snap = Snapshot::load(&d.join("slagboom.toml")).unwrap_or_else(|e| panic!("{e}"));
        snap.policy_version.to_string()
    }

    #[test]
    fn the_version_follows_meaning_not_layout() {
        let base = version(CONFIG, RULES, DEVICES);
        assert_eq!(base.len(), 16);
        assert!(base.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(version(CONFIG, RULES, DEVICES), base, "stable for the same input");

        // Reformatting: key order, whitespace, comments, entry and row order.
        let rules = "# TikTok\ntitle = \"T\"\nid = \"t\"\nexact = [ \"a.example\" ]\ndomains = [\n  \"tiktokv.com\",\n  \"tiktok.com\",\n]\n";
        let config = CONFIG
            .replace(
                "authorities = [\"federal\", \"flanders\"]",
                "authorities = [\"flanders\",  \"federal\"]  # both",
            )
            .replace("title = \"Federal\"\n", "")
            .replace("reference = \"NSC\"\n", "reference = \"NSC\"\ntitle = \"Federal\"\n")
            .replace("2023-03-10T00:00:00+01:00", "2023-03-09T23:00:00Z");
        let devices = "device_id,authority,purchase,subscription,usage,addresses,status\r\n\
            b,flanders,none,none,none,,active\r\na,federal,full,none,none,10.0.0.2 10.0.0.1,active\r\n";
        assert_eq!(version(&config, rules, devices), base, "reformatting changes nothing");

        // Changes of meaning change it.
        let changed = [
            version(
                CONFIG,
                &RULES.replace("\"tiktokv.com\"", "\"tiktokv.com\", \"musical.ly\""),
                DEVICES,
            ),
            version(
                &CONFIG.replace("covered = \"block\"", "covered = \"report\""),
                RULES,
                DEVICES,
            ),
            version(&CONFIG.replace("+01:00", "+02:00"), RULES, DEVICES),
            version(CONFIG, RULES, &DEVICES.replace("b,flanders,none", "b,flanders,partial")),
            version(CONFIG, RULES, &format!("{DEVICES}c,federal,none,none,none,,retired\n")),
        ];
        for (i, v) in changed.iter().enumerate() {
            assert_ne!(v, &base, "change {i}");
        }
    }
}

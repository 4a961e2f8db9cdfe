//! The policy version (SPEC §14): 16 hex digits of a SHA-256 over a canonical form of
//! what decides traffic — the policies, the rulesets and the registry. The canonical
//! form lists everything in a fixed order (sorted by id, lists sorted where their order
//! means nothing), so key order, whitespace, comments and the order of rows or entries
//! in a file do not change the version; any change of meaning does.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::registry::Registry;
use crate::rules::RuleIndex;

/// The version of `config`'s policies with `rules` and `registry`.
pub fn policy_version(config: &Config, rules: &RuleIndex, registry: &Registry) -> String {
    let bytes = serde_json::to_vec(&canonical(config, rules, registry)).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    hex::encode(&digest[..8])
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort_unstable();
    v
}

fn canonical(config: &Config, rules: &RuleIndex, registry: &Registry) -> Value {
    let time = |t: &time::OffsetDateTime| t.unix_timestamp();
    let mut policies: Vec<&crate::config::PolicyConfig> = config.policies.iter().collect();
    policies.sort_by(|a, b| a.id.cmp(&b.id));
    let policies: Vec<Value> = policies
        .into_iter()
        .map(|p| {
            json!([
                p.id,
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
            ])
        })
        .collect();
    let mut rulesets: Vec<(String, Value)> = Vec::new();
    for (index, rs) in rules.rulesets().iter().enumerate() {
        let entries = sorted(
            rules
                .rules()
                .iter()
                .filter(|r| r.ruleset == index)
                .map(|r| format!("{:?} {}", r.kind, r.text))
                .collect(),
        );
        rulesets.push((rs.id.clone(), json!([rs.id, rs.title, entries])));
    }
    rulesets.sort_by(|a, b| a.0.cmp(&b.0));
    let mut devices: Vec<Value> = registry
        .devices()
        .iter()
        .map(|d| {
            json!([
                &*d.id,
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
            ])
        })
        .collect();
    devices.sort_by(|a, b| a[0].as_str().cmp(&b[0].as_str()));
    json!({
        "policies": policies,
        "rulesets": rulesets.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
        "devices": devices,
    })
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

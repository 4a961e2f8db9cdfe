//! `slagboom ca`: the block-page CA read back by a real X.509 parser (`openssl x509`),
//! its name constraints binding in a real verifier (`openssl verify` rejects what the
//! CA key signs outside them), and the devices CA with a device certificate whose
//! printed `cert_sha256` is the SHA-256 of its DER.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "proxy/support.rs"]
mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use sha2::{Digest, Sha256};
use support::*;

fn slagboom(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_slagboom"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn openssl(args: &[&str]) -> Output {
    Command::new("openssl").args(args).output().expect("openssl runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The block-page CA's constraints are exactly the blocked names, no IP address is
/// permitted, pathlen is 0, the key is 0600, and nothing is overwritten without --force.
#[test]
fn the_block_page_ca_is_constrained_to_the_blocked_names() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &Opts::default());
    let o = slagboom(
        dir.path(),
        &["ca", "init", "-c", cfg.to_str().unwrap(), "--dir", "certs"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("cannot be name constraints"),
        "patterns are warned about: {}",
        text(&o)
    );
    let ca = dir.path().join("certs/ca.pem");
    let key = dir.path().join("certs/ca-key.pem");
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);

    let parsed = text(&openssl(&["x509", "-in", ca.to_str().unwrap(), "-noout", "-text"]));
    assert!(parsed.contains("CA:TRUE, pathlen:0"), "{parsed}");
    assert!(parsed.contains("Certificate Sign, CRL Sign"), "{parsed}");
    assert!(parsed.contains("X509v3 Name Constraints: critical"), "{parsed}");
    assert!(parsed.contains("X509v3 Basic Constraints: critical"), "{parsed}");
    // Permitted: the domains and exact hosts of the rulesets a blocking policy uses.
    let permitted: Vec<&str> = parsed
        .split("Permitted:")
        .nth(1)
        .unwrap()
        .split("Excluded:")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("DNS:"))
        .collect();
    // Exactly the blocked set: tiktok.toml's domains and exact hosts, and the test
    // ruleset's (its IDN in punycode).
    let shipped: toml::Value = toml::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/tiktok.toml")).unwrap(),
    )
    .unwrap();
    let mut want: std::collections::BTreeSet<String> = ["xn--bcher-kva.example", "blocked.test", "exact-only.test"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    for key in ["domains", "exact"] {
        for v in shipped.get(key).and_then(|v| v.as_array()).into_iter().flatten() {
            want.insert(v.as_str().unwrap().to_ascii_lowercase());
        }
    }
    let got: std::collections::BTreeSet<String> = permitted.iter().map(|s| s.to_string()).collect();
    assert_eq!(got, want);
    assert!(!permitted.contains(&"capcut.com"), "no policy uses bytedance-shared");
    let excluded = parsed.split("Excluded:").nth(1).unwrap();
    assert!(excluded.contains("IP:0.0.0.0/0.0.0.0"), "{excluded}");
    assert!(excluded.contains("IP:0:0:0:0:0:0:0:0/0:0:0:0:0:0:0:0"), "{excluded}");

    // No overwrite without --force; with it, a new CA.
    let again = slagboom(
        dir.path(),
        &["ca", "init", "-c", cfg.to_str().unwrap(), "--dir", "certs"],
    );
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(text(&again).contains("--force"));
    let before = std::fs::read(&ca).unwrap();
    let forced = slagboom(
        dir.path(),
        &["ca", "init", "-c", cfg.to_str().unwrap(), "--dir", "certs", "--force"],
    );
    assert!(forced.status.success());
    assert_ne!(std::fs::read(&ca).unwrap(), before);
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
}

/// A leaked CA key cannot be used for another site: what it signs outside the
/// constraints (another name, an IP address) fails a real verifier; inside, it verifies.
#[test]
fn the_constraints_bind_in_a_real_verifier() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &Opts::default());
    let o = slagboom(
        dir.path(),
        &["ca", "init", "-c", cfg.to_str().unwrap(), "--dir", "certs"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let ca_pem = std::fs::read_to_string(dir.path().join("certs/ca.pem")).unwrap();
    let ca_key =
        rcgen::KeyPair::from_pem(&std::fs::read_to_string(dir.path().join("certs/ca-key.pem")).unwrap()).unwrap();
    let ca = rcgen::CertificateParams::from_ca_cert_pem(&ca_pem)
        .unwrap()
        .self_signed(&ca_key)
        .unwrap();
    let sign = |san: rcgen::SanType, name: &str| {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.subject_alt_names = vec![san];
        params.distinguished_name.push(rcgen::DnType::CommonName, "leaf");
        let key = rcgen::KeyPair::generate().unwrap();
        let leaf = params.signed_by(&key, &ca, &ca_key).unwrap();
        let path = dir.path().join(format!("{name}.pem"));
        std::fs::write(&path, leaf.pem()).unwrap();
        path
    };
    let verify = |leaf: &Path| {
        let ca = dir.path().join("certs/ca.pem");
        openssl(&["verify", "-CAfile", ca.to_str().unwrap(), leaf.to_str().unwrap()])
    };
    let inside = sign(rcgen::SanType::DnsName("www.tiktok.com".try_into().unwrap()), "inside");
    let o = verify(&inside);
    assert!(o.status.success(), "a blocked name verifies: {}", text(&o));
    let outside = sign(
        rcgen::SanType::DnsName("www.example.org".try_into().unwrap()),
        "outside",
    );
    let o = verify(&outside);
    assert!(!o.status.success(), "another name is refused: {}", text(&o));
    assert!(text(&o).contains("subtree violation"), "{}", text(&o));
    let ip = sign(rcgen::SanType::IpAddress("192.0.2.1".parse().unwrap()), "ip");
    let o = verify(&ip);
    assert!(!o.status.success(), "an IP address is refused: {}", text(&o));
    assert!(text(&o).contains("subtree violation"), "{}", text(&o));
}

/// The devices CA and a device certificate: the printed cert_sha256 is the SHA-256 of
/// the certificate's DER, the certificate chains to the CA, and with a configuration an
/// unknown device id is refused.
#[test]
fn device_certificates_and_their_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &Opts::default());
    let o = slagboom(dir.path(), &["ca", "init-devices", "--dir", "certs"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = slagboom(
        dir.path(),
        &[
            "ca",
            "issue-device",
            "-c",
            cfg.to_str().unwrap(),
            "--device",
            "fed-cov",
            "--dir",
            "certs",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let printed = String::from_utf8_lossy(&o.stdout).trim().to_owned();
    let pem = std::fs::read_to_string(dir.path().join("certs/fed-cov.pem")).unwrap();
    let der = rustls::pki_types::pem::PemObject::from_pem_slice(pem.as_bytes())
        .map(|c: rustls::pki_types::CertificateDer<'static>| c.to_vec())
        .unwrap();
    assert_eq!(printed, format!("cert_sha256 {}", hex::encode(Sha256::digest(&der))));
    let key = dir.path().join("certs/fed-cov-key.pem");
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    let ca = dir.path().join("certs/devices-ca.pem");
    let leaf = dir.path().join("certs/fed-cov.pem");
    let o = openssl(&[
        "verify",
        "-purpose",
        "sslclient",
        "-CAfile",
        ca.to_str().unwrap(),
        leaf.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = slagboom(
        dir.path(),
        &[
            "ca",
            "issue-device",
            "-c",
            cfg.to_str().unwrap(),
            "--device",
            "nobody",
            "--dir",
            "certs",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("not in the registry"), "{}", text(&o));
}

/// `run` and `check` read the CA `ca init` made; `check` warns once the rules have
/// outgrown its constraints, and refuses a key readable by others.
#[test]
fn check_reads_the_ca_and_warns_when_the_rules_outgrow_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &Opts {
            extra: "[intercept]\nca_cert = \"certs/ca.pem\"\nca_key = \"certs/ca-key.pem\"\n".into(),
            ..Opts::default()
        },
    );
    let c = cfg.to_str().unwrap();
    let o = slagboom(dir.path(), &["ca", "init", "-c", c, "--dir", "certs"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = slagboom(dir.path(), &["check", "-c", c]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("intercept CA"), "{}", text(&o));
    assert!(!text(&o).contains("does not permit"), "{}", text(&o));

    // A new blocked domain after the CA was made.
    let rules = dir.path().join("rules/test.toml");
    let grown = std::fs::read_to_string(&rules)
        .unwrap()
        .replace("\"blocked.test\"]", "\"blocked.test\", \"newly-banned.example\"]");
    std::fs::write(&rules, grown).unwrap();
    let o = slagboom(dir.path(), &["check", "-c", c]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("does not permit") && text(&o).contains("newly-banned.example"),
        "{}",
        text(&o)
    );

    let key = dir.path().join("certs/ca-key.pem");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    for cmd in ["check", "run"] {
        let o = slagboom(dir.path(), &[cmd, "-c", c]);
        assert_eq!(o.status.code(), Some(1), "{cmd}: {}", text(&o));
        assert!(text(&o).contains("readable by group or others"), "{}", text(&o));
    }
}

//! The certificate authorities slagboom makes (SPEC §2, §7), with rcgen:
//!
//! - the **block-page CA** (`ca init`): ECDSA P-256, `basicConstraints` CA with
//!   `pathlen:0`, `keyUsage` keyCertSign and cRLSign, and critical **name constraints**
//!   whose permitted DNS subtrees are exactly the `domains` and `exact` entries of the
//!   rulesets some policy uses with an action other than `allow`, and whose excluded
//!   subtrees are every IP address. A stolen key can then sign for no other site.
//!   Patterns and CIDRs cannot be expressed as name constraints: they are listed so the
//!   operator is warned;
//! - a **devices CA** (`ca init-devices`) for the HTTPS proxy port in labs and small
//!   sites, and **device certificates** issued from it (`ca issue-device`), identified in
//!   the registry by the SHA-256 of their DER (`cert_sha256`).
//!
//! Keys are written with mode 0600; nothing is overwritten without `force`.

use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    GeneralSubtree, IsCa, KeyPair, KeyUsagePurpose, NameConstraints, SerialNumber,
};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::policy::Action;
use crate::rules::RuleKind;
use crate::state::Snapshot;

/// How long the CAs and device certificates made here are valid.
const CA_YEARS: i64 = 5;
const DEVICE_YEARS: i64 = 2;

/// Why a CA could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("{0} exists: pass --force to replace it")]
    Exists(PathBuf),
    #[error("no policy blocks or warns about any domain: nothing to constrain the CA to")]
    NothingBlocked,
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("certificate: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("{0}")]
    Input(String),
}

/// What the block-page CA may sign for, and what the rules hold that it cannot cover.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Constraints {
    /// DNS subtrees: the `domains` and `exact` entries of rulesets in use.
    pub permitted: Vec<String>,
    /// Patterns and CIDRs of those rulesets (as written).
    pub unconstrainable: Vec<String>,
}

/// The names the block-page CA is constrained to: every `domains` and `exact` entry of
/// the rulesets that some policy uses with an action other than `allow` (a warn needs
/// leaves too, for the advice page).
pub fn constraints(snap: &Snapshot) -> Constraints {
    let mut rulesets = BTreeSet::new();
    for p in &snap.policies {
        if [p.covered, p.advisory, p.private].iter().any(|a| *a != Action::Allow) {
            rulesets.extend(p.rulesets.iter().copied());
        }
    }
    let (mut permitted, mut other) = (BTreeSet::new(), BTreeSet::new());
    for rule in snap.rules.rules().iter().filter(|r| rulesets.contains(&r.ruleset)) {
        match rule.kind {
            RuleKind::Domain | RuleKind::Exact => permitted.insert(rule.text.clone()),
            RuleKind::Pattern | RuleKind::Cidr => other.insert(rule.text.clone()),
        };
    }
    Constraints {
        permitted: permitted.into_iter().collect(),
        unconstrainable: other.into_iter().collect(),
    }
}

/// The `domains` and `exact` entries of blocked or warned rulesets that `ca` does not
/// permit: the rules have outgrown the CA, whose leaves cannot cover them.
pub fn outgrown(snap: &Snapshot, ca: &crate::tls::leaf::BlockCa) -> Vec<String> {
    constraints(snap)
        .permitted
        .into_iter()
        .filter(|name| !ca.permits(name))
        .collect()
}

/// A certificate and its private key, PEM.
#[derive(Debug, Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    /// SHA-256 of the certificate's DER (`cert_sha256` in the registry).
    pub sha256: [u8; 32],
}

fn ca_params(common_name: &str, years: i64) -> Result<CertificateParams, CaError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, "slagboom");
    params.distinguished_name = dn;
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(365 * years);
    params.serial_number = Some(random_serial());
    Ok(params)
}

/// A positive, non-zero 128-bit serial (RFC 5280 §4.1.2.2).
pub(crate) fn random_serial() -> SerialNumber {
    let mut bytes = *uuid::Uuid::new_v4().as_bytes();
    // Positive, non-zero (RFC 5280 §4.1.2.2).
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    SerialNumber::from_slice(&bytes)
}

fn issued(cert: &rcgen::Certificate, key: &KeyPair) -> Issued {
    Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        sha256: Sha256::digest(cert.der()).into(),
    }
}

/// The block-page CA for `constraints` (SPEC §7).
///
/// # Errors
///
/// [`CaError::NothingBlocked`] when there is no name to permit; a signing error.
pub fn block_page_ca(constraints: &Constraints) -> Result<Issued, CaError> {
    if constraints.permitted.is_empty() {
        return Err(CaError::NothingBlocked);
    }
    let mut params = ca_params("slagboom block-page CA", CA_YEARS)?;
    params.name_constraints = Some(NameConstraints {
        permitted_subtrees: constraints
            .permitted
            .iter()
            .map(|n| GeneralSubtree::DnsName(n.clone()))
            .collect(),
        excluded_subtrees: vec![
            GeneralSubtree::IpAddress(CidrSubnet::V4([0; 4], [0; 4])),
            GeneralSubtree::IpAddress(CidrSubnet::V6([0; 16], [0; 16])),
        ],
    });
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok(issued(&cert, &key))
}

/// A devices CA for the HTTPS proxy port (labs and small sites).
///
/// # Errors
///
/// A signing error.
pub fn devices_ca() -> Result<Issued, CaError> {
    let params = ca_params("slagboom devices CA", CA_YEARS)?;
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok(issued(&cert, &key))
}

/// A client certificate for `device` signed by the devices CA (PEM certificate and key).
///
/// # Errors
///
/// The CA files do not parse, or signing fails.
pub fn issue_device(ca_cert_pem: &str, ca_key_pem: &str, device: &str) -> Result<Issued, CaError> {
    let ca_key = KeyPair::from_pem(ca_key_pem)?;
    let ca_params = CertificateParams::from_ca_cert_pem(ca_cert_pem)?;
    let ca = ca_params.self_signed(&ca_key)?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, device);
    dn.push(DnType::OrganizationName, "slagboom device");
    params.distinguished_name = dn;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(365 * DEVICE_YEARS);
    params.serial_number = Some(random_serial());
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &ca, &ca_key)?;
    Ok(issued(&cert, &key))
}

/// Writes `cert` and `key` into `dir` as `name.pem` and `name-key.pem` (the key with
/// mode 0600). Refuses to replace either without `force`.
///
/// # Errors
///
/// [`CaError::Exists`], or the write error.
pub fn write(dir: &Path, name: &str, issued: &Issued, force: bool) -> Result<(PathBuf, PathBuf), CaError> {
    let cert_path = dir.join(format!("{name}.pem"));
    let key_path = dir.join(format!("{name}-key.pem"));
    if !force {
        for p in [&cert_path, &key_path] {
            if p.exists() {
                return Err(CaError::Exists(p.clone()));
            }
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| CaError::Io(dir.to_path_buf(), e))?;
    write_file(&key_path, issued.key_pem.as_bytes(), 0o600)?;
    write_file(&cert_path, issued.cert_pem.as_bytes(), 0o644)?;
    Ok((cert_path, key_path))
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CaError> {
    let io = |e| CaError::Io(path.to_path_buf(), e);
    // A file that exists keeps its mode on open: set it again.
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(io)?;
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(std::fs::Permissions::from_mode(mode)).map_err(io)?;
    f.write_all(bytes).map_err(io)
}

//! The block-page CA in use (`[intercept] ca_cert`, `ca_key`) and the leaves it mints
//! for intercepted names (SPEC §7).
//!
//! - [`BlockCa::load`] refuses a key readable by group or others, a key that does not
//!   match the certificate, a certificate that is no CA, and a CA without DNS name
//!   constraints (it could sign for any site: make one with `slagboom ca init`).
//! - [`BlockCa::permits`] is the RFC 5280 §4.2.1.10 test of a DNS name against the
//!   CA's permitted subtrees; nothing outside them is ever minted for, and never an IP
//!   address.
//! - [`BlockCa::mint`] makes a leaf: ECDSA P-256, SAN = the name, EKU serverAuth,
//!   `CA:FALSE`, a random serial, notBefore one hour back, notAfter now + the lifetime.
//! - [`LeafCache`] keeps the server configurations of minted leaves in a bounded LRU
//!   keyed by the normalised name, so a second connection for a name does not mint.

use std::num::NonZeroUsize;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lru::LruCache;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, NoServerSessionStorage, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use sha2::{Digest, Sha256};

/// The ALPN protocol an intercepted connection speaks (never `h2`).
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// The block-page CA, ready to sign.
pub struct BlockCa {
    /// The CA certificate as written (sent as the chain's second certificate).
    der: CertificateDer<'static>,
    /// The same CA rebuilt from its parameters: rcgen signs with it (same subject and
    /// key identifier, so leaves chain to `der`).
    issuer: rcgen::Certificate,
    key: KeyPair,
    /// Permitted DNS subtrees, lowercase, without a leading dot.
    permitted: Vec<Subtree>,
    /// SHA-256 of `der`: leaves cached under another CA are not served.
    pub fingerprint: [u8; 32],
}

impl std::fmt::Debug for BlockCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockCa")
            .field("permitted", &self.permitted)
            .field("fingerprint", &hex::encode(self.fingerprint))
            .finish_non_exhaustive()
    }
}

/// One permitted DNS subtree (RFC 5280 §4.2.1.10): `example.com` permits the name and
/// every name under it; `.example.com` only the names under it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Subtree {
    name: String,
    subdomains_only: bool,
}

/// Refuses a private key file readable by group or others.
///
/// # Errors
///
/// One line naming the file and its mode.
pub fn check_key_mode(path: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{}: the key is readable by group or others (mode {mode:04o}): chmod 600 it",
            path.display()
        ));
    }
    Ok(())
}

impl BlockCa {
    /// Reads and checks the CA certificate and key (PEM).
    ///
    /// # Errors
    ///
    /// One line: an unreadable or malformed file, a key readable by others, a key that
    /// does not match the certificate, no CA, or no DNS name constraints.
    pub fn load(cert: &Path, key: &Path) -> Result<BlockCa, String> {
        let cert_pem = std::fs::read_to_string(cert).map_err(|e| format!("ca_cert {}: {e}", cert.display()))?;
        check_key_mode(key).map_err(|e| format!("ca_key {e}"))?;
        let key_pem = std::fs::read_to_string(key).map_err(|e| format!("ca_key {}: {e}", key.display()))?;
        Self::from_pem(&cert_pem, &key_pem).map_err(|e| format!("ca_cert {}: {e}", cert.display()))
    }

    /// The CA from PEM text (see [`BlockCa::load`]).
    ///
    /// # Errors
    ///
    /// As [`BlockCa::load`], without the file checks.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<BlockCa, String> {
        use rustls::pki_types::pem::PemObject;
        let der = CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(|e| format!("no certificate: {e}"))?;
        let key = KeyPair::from_pem(key_pem).map_err(|e| format!("the key does not parse: {e}"))?;
        let (_, parsed) =
            x509_parser::parse_x509_certificate(&der).map_err(|e| format!("the certificate does not parse: {e}"))?;
        if parsed.public_key().raw != key.public_key_der().as_slice() {
            return Err("the key does not match the certificate".into());
        }
        let params = CertificateParams::from_ca_cert_der(&der).map_err(|e| format!("not a usable CA: {e}"))?;
        if !matches!(params.is_ca, IsCa::Ca(_)) {
            return Err("the certificate is not a CA (basicConstraints)".into());
        }
        let permitted: Vec<Subtree> = params
            .name_constraints
            .iter()
            .flat_map(|nc| nc.permitted_subtrees.iter())
            .filter_map(|s| match s {
                GeneralSubtree::DnsName(n) => Some(Subtree {
                    name: n.trim_start_matches('.').to_ascii_lowercase(),
                    subdomains_only: n.starts_with('.'),
                }),
                _ => None,
            })
            .collect();
        if permitted.is_empty() {
            return Err(
                "the CA has no DNS name constraints and could sign for any site: make one with `slagboom ca init`"
                    .into(),
            );
        }
        let issuer = params
            .self_signed(&key)
            .map_err(|e| format!("cannot sign with this CA: {e}"))?;
        Ok(BlockCa {
            fingerprint: Sha256::digest(&der).into(),
            der,
            issuer,
            key,
            permitted,
        })
    }

    /// True when `name` (a normalised host name, never an IP literal) lies inside the
    /// CA's permitted DNS subtrees (RFC 5280 §4.2.1.10).
    pub fn permits(&self, name: &str) -> bool {
        if name.is_empty() || name.parse::<std::net::IpAddr>().is_ok() {
            return false;
        }
        let name = name.trim_end_matches('.');
        self.permitted.iter().any(|s| {
            let under = name.len() > s.name.len()
                && name[..name.len() - s.name.len()].ends_with('.')
                && name[name.len() - s.name.len()..].eq_ignore_ascii_case(&s.name);
            under || (!s.subdomains_only && name.eq_ignore_ascii_case(&s.name))
        })
    }

    /// The permitted DNS subtrees as written in the certificate.
    pub fn permitted(&self) -> Vec<String> {
        self.permitted
            .iter()
            .map(|s| {
                if s.subdomains_only {
                    format!(".{}", s.name)
                } else {
                    s.name.clone()
                }
            })
            .collect()
    }

    /// Mints a leaf for `name` valid for `lifetime` (SPEC §7), with its chain
    /// (leaf, CA).
    ///
    /// # Errors
    ///
    /// `name` is outside the constraints (or an IP address), or signing failed.
    pub fn mint(&self, name: &str, lifetime: Duration) -> Result<Arc<CertifiedKey>, String> {
        if !self.permits(name) {
            return Err(format!("{name} is outside the CA's name constraints"));
        }
        let mut params = CertificateParams::new(vec![name.to_owned()]).map_err(|e| e.to_string())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::hours(1);
        params.not_after = now + time::Duration::seconds(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX / 2));
        params.serial_number = Some(super::ca::random_serial());
        let key = KeyPair::generate().map_err(|e| e.to_string())?;
        let leaf = params
            .signed_by(&key, &self.issuer, &self.key)
            .map_err(|e| e.to_string())?;
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signer = rustls::crypto::ring::sign::any_ecdsa_type(&der).map_err(|e| e.to_string())?;
        Ok(Arc::new(CertifiedKey::new(
            vec![leaf.der().clone(), self.der.clone()],
            signer,
        )))
    }
}

/// A server configuration that always presents one leaf: TLS 1.2 and 1.3, ALPN
/// `http/1.1` only, no session state kept (a block page needs no resumption).
pub fn server_config(leaf: Arc<CertifiedKey>) -> Result<Arc<ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Fixed(leaf)));
    cfg.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    cfg.session_storage = Arc::new(NoServerSessionStorage {});
    cfg.send_tls13_tickets = 0;
    Ok(Arc::new(cfg))
}

/// Presents one certificate chain whatever the client asks.
#[derive(Debug)]
pub(crate) struct Fixed(pub(crate) Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// Minted leaves (as ready server configurations), least recently used evicted first.
#[derive(Debug)]
pub struct LeafCache {
    inner: Mutex<LruCache<String, Cached>>,
}

#[derive(Debug)]
struct Cached {
    config: Arc<ServerConfig>,
    /// The CA that signed it.
    ca: [u8; 32],
    /// Re-minted after half its lifetime, so no cached leaf is ever near expiry.
    fresh_until: Instant,
}

impl LeafCache {
    /// A cache of at most `capacity` leaves (at least 1).
    pub fn new(capacity: usize) -> LeafCache {
        let cap = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        LeafCache {
            inner: Mutex::new(LruCache::new(cap)),
        }
    }

    /// The cached configuration for `name` under `ca`, if fresh.
    pub fn get(&self, ca: &BlockCa, name: &str) -> Option<Arc<ServerConfig>> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let hit = inner.get(name)?;
        if hit.ca != ca.fingerprint || Instant::now() >= hit.fresh_until {
            inner.pop(name);
            return None;
        }
        Some(hit.config.clone())
    }

    /// Keeps `config` for `name`, evicting the least recently used leaf when full.
    pub fn put(&self, ca: &BlockCa, name: &str, config: Arc<ServerConfig>, lifetime: Duration) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.put(
            name.to_owned(),
            Cached {
                config,
                ca: ca.fingerprint,
                fresh_until: Instant::now() + lifetime / 2,
            },
        );
    }

    /// Leaves kept now.
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sets the bound (on reload), evicting the least recently used leaves over it.
    pub fn resize(&self, capacity: usize) {
        let cap = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.cap() != cap {
            inner.resize(cap);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::ca::{block_page_ca, Constraints};

    fn ca(permitted: &[&str]) -> BlockCa {
        let issued = block_page_ca(&Constraints {
            permitted: permitted.iter().map(|s| s.to_string()).collect(),
            unconstrainable: vec![],
        })
        .unwrap();
        BlockCa::from_pem(&issued.cert_pem, &issued.key_pem).unwrap()
    }

    #[test]
    fn permits_follows_rfc5280_dns_subtrees() {
        let ca = ca(&["tiktok.com", "www.tiktokv.com"]);
        for (name, ok) in [
            ("tiktok.com", true),
            ("www.tiktok.com", true),
            ("a.b.tiktok.com", true),
            ("TikTok.COM", true),
            ("nottiktok.com", false),
            ("tiktok.com.evil.example", false),
            ("www.tiktokv.com", true),
            ("x.www.tiktokv.com", true),
            ("tiktokv.com", false),
            ("example.com", false),
            ("192.0.2.1", false),
            ("::1", false),
            ("", false),
        ] {
            assert_eq!(ca.permits(name), ok, "{name}");
        }
    }

    #[test]
    fn mints_only_inside_the_constraints() {
        let ca = ca(&["tiktok.com"]);
        let leaf = ca.mint("www.tiktok.com", Duration::from_secs(3600)).unwrap();
        assert_eq!(leaf.cert.len(), 2);
        assert!(leaf.keys_match().is_ok());
        assert!(ca.mint("example.com", Duration::from_secs(3600)).is_err());
        assert!(ca.mint("192.0.2.1", Duration::from_secs(3600)).is_err());
    }

    #[test]
    fn refuses_mismatched_key_and_unconstrained_ca() {
        let a = block_page_ca(&Constraints {
            permitted: vec!["tiktok.com".into()],
            unconstrainable: vec![],
        })
        .unwrap();
        let b = block_page_ca(&Constraints {
            permitted: vec!["tiktok.com".into()],
            unconstrainable: vec![],
        })
        .unwrap();
        let e = BlockCa::from_pem(&a.cert_pem, &b.key_pem).unwrap_err();
        assert!(e.contains("does not match"), "{e}");
        let devices = crate::tls::ca::devices_ca().unwrap();
        let e = BlockCa::from_pem(&devices.cert_pem, &devices.key_pem).unwrap_err();
        assert!(e.contains("no DNS name constraints"), "{e}");
    }

    #[test]
    fn cache_is_bounded_and_keyed_by_ca() {
        let ca1 = ca(&["tiktok.com"]);
        let ca2 = ca(&["tiktok.com"]);
        let cache = LeafCache::new(2);
        let life = Duration::from_secs(3600);
        for name in ["a.tiktok.com", "b.tiktok.com", "c.tiktok.com"] {
            let cfg = server_config(ca1.mint(name, life).unwrap()).unwrap();
            cache.put(&ca1, name, cfg, life);
        }
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&ca1, "a.tiktok.com").is_none(), "least recently used evicted");
        assert!(cache.get(&ca1, "c.tiktok.com").is_some());
        assert!(
            cache.get(&ca2, "c.tiktok.com").is_none(),
            "another CA's leaf is not served"
        );
    }
}

//! The HTTPS proxy port's TLS (SPEC §7): the proxy's certificate chain and key, and,
//! with `client_ca`, device certificates verified against it (RFC 8446 §4.3.2,
//! optional: a client without one falls back to the token and the address). A
//! certificate that does not chain or has expired fails the handshake with an alert.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

use crate::config::TlsListenConfig;

/// Builds the server configuration of `tls_listen`.
///
/// # Errors
///
/// One line naming the file: unreadable, no certificate or key, a key that does not
/// match the certificate, or a `client_ca` with no usable certificate.
pub fn listen_config(cfg: &TlsListenConfig) -> Result<Arc<ServerConfig>, String> {
    let chain = CertificateDer::pem_file_iter(&cfg.cert)
        .map_err(|e| named(&cfg.cert, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| named(&cfg.cert, &e))?;
    if chain.is_empty() {
        return Err(named(&cfg.cert, &"no certificate found"));
    }
    let key = PrivateKeyDer::from_pem_file(&cfg.key).map_err(|e| named(&cfg.key, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let signer = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| named(&cfg.key, &e))?;
    let certified = CertifiedKey::new(chain, signer);
    certified
        .keys_match()
        .map_err(|_| named(&cfg.key, &"the key does not match tls_cert"))?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match &cfg.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca).map_err(|e| named(ca, &e))? {
                roots.add(c.map_err(|e| named(ca, &e))?).map_err(|e| named(ca, &e))?;
            }
            if roots.is_empty() {
                return Err(named(ca, &"no certificate found"));
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(|e| named(ca, &e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(Arc::new(super::leaf::Fixed(Arc::new(certified))));
    config.alpn_protocols = vec![super::leaf::ALPN_HTTP1.to_vec()];
    Ok(Arc::new(config))
}

fn named(p: &Path, e: &dyn std::fmt::Display) -> String {
    format!("{}: {e}", p.display())
}

/// True when a failed handshake failed on the client's certificate (it does not chain,
/// has expired, or is malformed): an `auth_failed` event, not a protocol error.
pub fn is_certificate_error(e: &std::io::Error) -> bool {
    let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
        return false;
    };
    matches!(
        inner,
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
    )
}

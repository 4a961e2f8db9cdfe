//! `[proxy] tls_listen` (the HTTPS proxy port) and `[intercept]` (block and advice pages
//! over HTTPS), SPEC §7. Paths are resolved here; the certificates and keys themselves
//! are read and checked with the rest of the snapshot (`tls::server`, `tls::leaf`), so
//! `run`, `check` and every reload refuse the same material.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::file;
use super::{line_of, Checker, LoadError};

/// Default and largest `leaf_lifetime`.
const LEAF_LIFETIME: Duration = Duration::from_secs(7 * 86_400);
const LEAF_LIFETIME_MAX: Duration = Duration::from_secs(30 * 86_400);
/// Default `leaf_cache`.
const LEAF_CACHE: usize = 10_000;

/// The HTTPS proxy port.
#[derive(Debug, Clone)]
pub struct TlsListenConfig {
    pub listen: SocketAddr,
    /// The proxy's certificate chain (PEM, leaf first) and its key.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Trust anchors for device certificates; without it no certificate is asked for.
    pub client_ca: Option<PathBuf>,
    /// Line of `tls_listen` in the configuration, for errors about the files.
    pub line: usize,
}

/// `[intercept]`.
#[derive(Debug, Clone)]
pub struct InterceptConfig {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    /// Lifetime of a minted leaf (at most 30 days).
    pub leaf_lifetime: Duration,
    /// Leaves kept, least recently used evicted first (at least 1).
    pub leaf_cache: usize,
    pub advice_pages: bool,
    /// Line of `[intercept]`, for errors about the files.
    pub line: usize,
}

impl Checker<'_> {
    pub(super) fn tls_listen(&self, p: &mut file::Proxy) -> Result<Option<TlsListenConfig>, LoadError> {
        let Some(listen) = p.tls_listen.take() else {
            for (key, set) in [
                ("tls_cert", p.tls_cert.is_some()),
                ("tls_key", p.tls_key.is_some()),
                ("client_ca", p.client_ca.is_some()),
            ] {
                if set {
                    return Err(LoadError::new(self.path, 1, format!("[proxy] {key} needs tls_listen")));
                }
            }
            return Ok(None);
        };
        let line = line_of(self.text, listen.span().start);
        let need = |v: Option<PathBuf>, key: &str| {
            v.map(|p| self.resolve(&p))
                .ok_or_else(|| LoadError::new(self.path, line, format!("tls_listen needs {key}")))
        };
        Ok(Some(TlsListenConfig {
            listen: listen.into_inner(),
            cert: need(p.tls_cert.take(), "tls_cert")?,
            key: need(p.tls_key.take(), "tls_key")?,
            client_ca: p.client_ca.take().map(|c| self.resolve(&c)),
            line,
        }))
    }

    pub(super) fn intercept(
        &self,
        i: Option<toml::Spanned<file::Intercept>>,
    ) -> Result<Option<InterceptConfig>, LoadError> {
        let Some(i) = i else { return Ok(None) };
        let line = line_of(self.text, i.span().start);
        let i = i.into_inner();
        let leaf_lifetime = i.leaf_lifetime.map_or(LEAF_LIFETIME, |d| d.0);
        if leaf_lifetime.is_zero() || leaf_lifetime > LEAF_LIFETIME_MAX {
            return Err(LoadError::new(
                self.path,
                line,
                "[intercept] leaf_lifetime must be more than 0 and at most 30 days",
            ));
        }
        let leaf_cache = i.leaf_cache.unwrap_or(LEAF_CACHE);
        if leaf_cache == 0 {
            return Err(LoadError::new(
                self.path,
                line,
                "[intercept] leaf_cache must be at least 1",
            ));
        }
        Ok(Some(InterceptConfig {
            ca_cert: self.resolve(&i.ca_cert),
            ca_key: self.resolve(&i.ca_key),
            leaf_lifetime,
            leaf_cache,
            advice_pages: i.advice_pages,
            line,
        }))
    }
}

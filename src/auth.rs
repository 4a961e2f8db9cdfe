//! Device identity: client certificate, then token, then source address, in the order
//! `[auth] methods` allows. A wrong credential fails at once; only an absent one falls
//! through to the next method, and finally to `[auth] unknown_device`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{AuthMethod, UnknownDevice};
use crate::registry::{DeviceId, Status};
use crate::state::Snapshot;

/// What the client presented.
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    /// The raw `Proxy-Authorization` header value, if any.
    pub proxy_authorization: Option<&'a [u8]>,
    /// SHA-256 of the DER client certificate (TLS listener only).
    pub client_cert_sha256: Option<[u8; 32]>,
    pub source: IpAddr,
    /// The device a RADIUS binding puts at `source`, if any (it comes before the
    /// registry `addresses`).
    pub bound: Option<DeviceId>,
}

/// How a device was recognised (the `method` metrics label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    ClientCert,
    Token,
    SourceIp,
    /// A RADIUS accounting binding of the source address.
    Radius,
    None,
}

impl Method {
    /// The `labels.identity` of a device known by this method.
    pub fn label(self) -> crate::events::IdentityLabel {
        use crate::events::IdentityLabel;
        match self {
            Method::ClientCert => IdentityLabel::ClientCert,
            Method::Token => IdentityLabel::Token,
            Method::SourceIp => IdentityLabel::SourceIp,
            Method::Radius => IdentityLabel::Radius,
            Method::None => IdentityLabel::None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::ClientCert => "client-cert",
            Method::Token => "token",
            Method::SourceIp => "source-ip",
            Method::Radius => "radius",
            Method::None => "none",
        }
    }
}

/// Who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    Device {
        device: DeviceId,
        method: Method,
    },
    /// No credential and no address match, let through by `unknown_device`.
    Unknown(UnknownDevice),
}

/// Why identification failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No credential and `unknown_device = "deny"` (407, not rate limited).
    Missing,
    /// A credential was presented and is wrong (407, counted).
    Invalid(Method),
    /// The device is retired or lost (403).
    Inactive { device: DeviceId, status: Status },
}

/// Identifies the client against the snapshot's registry.
pub fn identify(snap: &Snapshot, creds: &Credentials<'_>) -> Result<Identity, AuthFailure> {
    let reg = &snap.registry;
    for method in &snap.config.auth.methods {
        let found = match method {
            AuthMethod::ClientCert => match creds.client_cert_sha256 {
                None => None,
                Some(hash) => {
                    let device = reg.by_cert(&hash).ok_or(AuthFailure::Invalid(Method::ClientCert))?;
                    // A token for another device on this connection is a conflict,
                    // never "the certificate wins" (SPEC §7).
                    if let Some(header) = creds.proxy_authorization {
                        if check_token(snap, header) != Some(device) {
                            return Err(AuthFailure::Invalid(Method::ClientCert));
                        }
                    }
                    Some((device, Method::ClientCert))
                }
            },
            AuthMethod::Token => match creds.proxy_authorization {
                None => None,
                Some(header) => Some((
                    check_token(snap, header).ok_or(AuthFailure::Invalid(Method::Token))?,
                    Method::Token,
                )),
            },
            AuthMethod::SourceIp => by_address(snap, creds.source, creds.bound),
        };
        if found.is_some() {
            return device_or_unknown(snap, found);
        }
    }
    device_or_unknown(snap, None)
}

/// Identifies a client by its source address alone (transparent mode, SPEC §6a): a
/// RADIUS binding (`bound`), the registry `addresses` (longest prefix), then
/// `unknown_device`.
///
/// # Errors
///
/// `Missing` under `unknown_device = "deny"`; `Inactive` for a retired or lost device.
pub fn identify_by_address(
    snap: &Snapshot,
    source: std::net::IpAddr,
    bound: Option<DeviceId>,
) -> Result<Identity, AuthFailure> {
    device_or_unknown(snap, by_address(snap, source, bound))
}

/// The device a source address stands for: its RADIUS binding first, then the
/// registry `addresses` (longest prefix).
fn by_address(snap: &Snapshot, source: std::net::IpAddr, bound: Option<DeviceId>) -> Option<(DeviceId, Method)> {
    bound
        .map(|d| (d, Method::Radius))
        .or_else(|| snap.registry.by_address(source).map(|d| (d, Method::SourceIp)))
}

/// The identity for a found device (refused unless active), or `unknown_device` when
/// nothing matched.
fn device_or_unknown(snap: &Snapshot, found: Option<(DeviceId, Method)>) -> Result<Identity, AuthFailure> {
    match found {
        Some((device, method)) => {
            let status = snap.registry.device(device).status;
            if status != Status::Active {
                return Err(AuthFailure::Inactive { device, status });
            }
            Ok(Identity::Device { device, method })
        }
        None => match snap.config.auth.unknown_device {
            UnknownDevice::Deny => Err(AuthFailure::Missing),
            other => Ok(Identity::Unknown(other)),
        },
    }
}

/// Checks `Basic base64(device_id:token)` against the device's `token_sha256`, in
/// constant time (also for unknown ids, which are compared against a dummy hash).
fn check_token(snap: &Snapshot, header: &[u8]) -> Option<DeviceId> {
    let header = std::str::from_utf8(header).ok()?.trim();
    let (scheme, value) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(value.trim()).ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let (user, pass) = (&decoded[..colon], &decoded[colon + 1..]);
    let user = std::str::from_utf8(user).ok()?;
    let given: [u8; 32] = Sha256::digest(pass).into();
    let device = snap.registry.by_id(user);
    let stored = device
        .and_then(|d| snap.registry.device(d).token_sha256)
        .unwrap_or([0u8; 32]);
    let equal: bool = given.ct_eq(&stored).into();
    match device {
        Some(d) if equal && snap.registry.device(d).token_sha256.is_some() => Some(d),
        _ => None,
    }
}

/// Counts invalid credentials per source address; past `per_minute` in the current
/// minute, requests with credentials from that address get 429.
#[derive(Debug)]
pub struct AuthLimiter {
    per_minute: u32,
    entries: AtomicUsize,
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

const WINDOW: Duration = Duration::from_secs(60);

impl AuthLimiter {
    pub fn new(per_minute: u32) -> AuthLimiter {
        AuthLimiter {
            per_minute,
            entries: AtomicUsize::new(0),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// True when `ip` has used up its failures for this minute.
    pub fn is_limited(&self, ip: IpAddr, now: Instant) -> bool {
        if self.entries.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        matches!(windows.get(&ip), Some((start, n)) if now.duration_since(*start) < WINDOW && *n >= self.per_minute)
    }

    /// Counts one invalid credential from `ip`.
    pub fn record_failure(&self, ip: IpAddr, now: Instant) {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() > 100_000 {
            windows.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let entry = windows.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        self.entries.store(windows.len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which credential wins when several name different devices: a defined result for
    /// each mix (SPEC §3, §7). `cov` and `priv` each have a token, a certificate and an
    /// address.
    #[test]
    fn mixed_credentials_have_one_defined_result() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("rules")).unwrap();
        std::fs::write(
            d.join("rules/t.toml"),
            "id = \"t\"\ntitle = \"T\"\ndomains = [\"tiktok.com\"]\n",
        )
        .unwrap();
        let sha = |s: &str| hex::encode(Sha256::digest(s.as_bytes()));
        let (cert_cov, cert_priv) = ([1u8; 32], [2u8; 32]);
        std::fs::write(
            d.join("devices.csv"),
            format!(
                "device_id,authority,purchase,subscription,usage,token_sha256,cert_sha256,addresses,status\n\
                 cov,federal,full,none,none,{},{},10.0.0.1,active\n\
                 priv,federal,none,none,none,{},{},10.0.0.2,active\n",
                sha("tok-cov"),
                hex::encode(cert_cov),
                sha("tok-priv"),
                hex::encode(cert_priv)
            ),
        )
        .unwrap();
        std::fs::write(
            d.join("slagboom.toml"),
            "[registry]\nsource = \"devices.csv\"\n[rules]\ndir = \"rules\"\n[log]\nspool_dir = \"spool\"\n",
        )
        .unwrap();
        let snap = Snapshot::load(&d.join("slagboom.toml")).unwrap_or_else(|e| panic!("{e}"));
        let id = |name: &str| snap.registry.by_id(name).unwrap();
        let basic = |user: &str, token: &str| {
            let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"));
            format!("Basic {b64}")
        };
        let (tok_cov, tok_priv, tok_bad) = (basic("cov", "tok-cov"), basic("priv", "tok-priv"), basic("cov", "nope"));
        let cov_addr: IpAddr = "10.0.0.1".parse().unwrap();
        let elsewhere: IpAddr = "192.0.2.9".parse().unwrap();
        let device = |d: &str, method| Ok(Identity::Device { device: id(d), method });
        #[allow(clippy::type_complexity)] // a table: what, certificate, token, source, binding, result
        let cases: Vec<(
            &str,
            Option<[u8; 32]>,
            Option<&str>,
            IpAddr,
            Option<&str>,
            Result<Identity, AuthFailure>,
        )> = vec![
            (
                "certificate and its own token",
                Some(cert_cov),
                Some(&tok_cov),
                elsewhere,
                None,
                device("cov", Method::ClientCert),
            ),
            (
                "certificate and another device's token",
                Some(cert_cov),
                Some(&tok_priv),
                elsewhere,
                None,
                Err(AuthFailure::Invalid(Method::ClientCert)),
            ),
            (
                "certificate from another device's address",
                Some(cert_priv),
                None,
                cov_addr,
                None,
                device("priv", Method::ClientCert),
            ),
            (
                "unknown certificate",
                Some([9; 32]),
                None,
                cov_addr,
                None,
                Err(AuthFailure::Invalid(Method::ClientCert)),
            ),
            (
                "token from another device's address",
                None,
                Some(&tok_priv),
                cov_addr,
                None,
                device("priv", Method::Token),
            ),
            (
                "token under another device's RADIUS binding",
                None,
                Some(&tok_priv),
                elsewhere,
                Some("cov"),
                device("priv", Method::Token),
            ),
            (
                "wrong token from a known address",
                None,
                Some(&tok_bad),
                cov_addr,
                None,
                Err(AuthFailure::Invalid(Method::Token)),
            ),
            (
                "RADIUS binding before the registry address",
                None,
                None,
                cov_addr,
                Some("priv"),
                device("priv", Method::Radius),
            ),
            (
                "the registry address alone",
                None,
                None,
                cov_addr,
                None,
                device("cov", Method::SourceIp),
            ),
        ];
        for (what, cert, token, source, bound, want) in cases {
            let creds = Credentials {
                proxy_authorization: token.map(str::as_bytes),
                client_cert_sha256: cert,
                source,
                bound: bound.map(id),
            };
            assert_eq!(identify(&snap, &creds), want, "{what}");
        }
    }

    #[test]
    fn limiter_counts_per_address_and_window() {
        let l = AuthLimiter::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        assert!(!l.is_limited(a, t0));
        l.record_failure(a, t0);
        assert!(!l.is_limited(a, t0));
        l.record_failure(a, t0);
        assert!(l.is_limited(a, t0));
        assert!(!l.is_limited(b, t0));
        assert!(!l.is_limited(a, t0 + WINDOW));
        l.record_failure(a, t0 + WINDOW);
        assert!(!l.is_limited(a, t0 + WINDOW));
    }
}

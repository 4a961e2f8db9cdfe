//! Reaching the destination: address rules, DNS (only now, after the name was allowed),
//! `dns_overrides`, ruleset CIDRs on resolved addresses, and the connect itself.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use time::OffsetDateTime;
use tokio::net::TcpStream;

use crate::config::ProxyConfig;
use crate::host::Host;
use crate::policy::{Action, Decision, Subject};
use crate::state::Snapshot;

/// Why no upstream connection was made.
#[derive(Debug)]
pub enum UpstreamError {
    /// The name did not resolve.
    Dns,
    /// A resolved (or literal) address is refused by the address rules.
    Prohibited(IpAddr),
    /// A resolved address is in a ruleset's CIDRs and policy blocks it.
    Blocked(Decision, IpAddr),
    /// Connection refused, reset or unreachable.
    Refused,
    /// `connect_timeout` elapsed.
    Timeout,
}

/// How long a resolved name is reused. The system resolver reports no TTL; 30 s keeps
/// load off it (one lookup per name, not per connection) while following DNS changes.
pub const DNS_TTL: Duration = Duration::from_secs(30);
/// Most names cached at once.
const DNS_ENTRIES: usize = 10_000;

/// Recently resolved names (positive answers only).
#[derive(Debug, Default)]
pub struct DnsCache {
    entries: Mutex<HashMap<String, (Instant, Vec<IpAddr>)>>,
}

impl DnsCache {
    fn get(&self, name: &str) -> Option<Vec<IpAddr>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get(name) {
            Some((at, ips)) if at.elapsed() < DNS_TTL => Some(ips.clone()),
            _ => None,
        }
    }

    fn put(&self, name: &str, ips: Vec<IpAddr>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= DNS_ENTRIES {
            entries.retain(|_, (at, _)| at.elapsed() < DNS_TTL);
            if entries.len() >= DNS_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(name.to_owned(), (Instant::now(), ips));
    }
}

/// Resolves `host`, checks every address, and connects within `connect_timeout`.
///
/// # Errors
///
/// See [`resolve_checked`] and [`dial`].
pub async fn connect(
    snap: &Snapshot,
    listeners: &[SocketAddr],
    dns: &DnsCache,
    subject: &Subject<'_>,
    host: &Host,
    port: u16,
    now: OffsetDateTime,
) -> Result<(TcpStream, SocketAddr), UpstreamError> {
    let addrs = resolve_checked(snap, listeners, dns, subject, host, port, now).await?;
    dial(&addrs, snap.config.proxy.limits.connect_timeout).await
}

/// Resolves `host` (`dns_overrides` first, then the cache, then the system resolver,
/// within `connect_timeout`) and checks every address it resolves to against the
/// address rules and the rulesets' CIDRs. The addresses returned are the ones to dial:
/// a name is never resolved twice for one connection (SPEC §6).
///
/// # Errors
///
/// [`UpstreamError::Dns`] when the name does not resolve, [`UpstreamError::Prohibited`]
/// or [`UpstreamError::Blocked`] for the first address refused.
pub async fn resolve_checked(
    snap: &Snapshot,
    listeners: &[SocketAddr],
    dns: &DnsCache,
    subject: &Subject<'_>,
    host: &Host,
    port: u16,
    now: OffsetDateTime,
) -> Result<Vec<SocketAddr>, UpstreamError> {
    let cfg = &snap.config.proxy;
    let addrs = resolve(cfg, dns, host, port, cfg.limits.connect_timeout).await?;
    for addr in &addrs {
        if prohibited(cfg, listeners, *addr) {
            return Err(UpstreamError::Prohibited(addr.ip()));
        }
        if snap.rules.has_cidrs() {
            let d = snap.decide_address(subject, addr.ip(), now);
            if d.action == Action::Block {
                return Err(UpstreamError::Blocked(d, addr.ip()));
            }
        }
    }
    Ok(addrs)
}

/// Connects to the first of `addrs` that accepts, all within `timeout`.
///
/// # Errors
///
/// [`UpstreamError::Refused`] when every address refused, reset or was unreachable;
/// [`UpstreamError::Timeout`] when `timeout` elapsed.
pub async fn dial(addrs: &[SocketAddr], timeout: Duration) -> Result<(TcpStream, SocketAddr), UpstreamError> {
    let attempt = async {
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    return Ok((s, *addr));
                }
                Err(e) => tracing::debug!(%addr, error = %e, "upstream connect failed"),
            }
        }
        Err(UpstreamError::Refused)
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or(Err(UpstreamError::Timeout))
}

async fn resolve(
    cfg: &ProxyConfig,
    dns: &DnsCache,
    host: &Host,
    port: u16,
    timeout: Duration,
) -> Result<Vec<SocketAddr>, UpstreamError> {
    if let Some(ip) = host.ip() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    if let Some(ip) = cfg.dns_overrides.get(host.as_str()) {
        return Ok(vec![SocketAddr::new(*ip, port)]);
    }
    let with_port = |ips: Vec<IpAddr>| ips.into_iter().map(|ip| SocketAddr::new(ip, port)).collect::<Vec<_>>();
    if let Some(ips) = dns.get(host.as_str()) {
        return Ok(with_port(ips));
    }
    let lookup = tokio::net::lookup_host((host.as_str(), port));
    match tokio::time::timeout(timeout, lookup).await {
        Ok(Ok(addrs)) => {
            let mut ips: Vec<IpAddr> = Vec::new();
            for a in addrs {
                if !ips.contains(&a.ip()) {
                    ips.push(a.ip());
                }
            }
            if ips.is_empty() {
                return Err(UpstreamError::Dns);
            }
            dns.put(host.as_str(), ips.clone());
            Ok(with_port(ips))
        }
        Ok(Err(_)) | Err(_) => Err(UpstreamError::Dns),
    }
}

/// Networks refused by default (besides the proxy's own listeners).
const DENIED: [&str; 12] = [
    "0.0.0.0/8",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "100.64.0.0/10",
    "224.0.0.0/4",
    "255.255.255.255/32",
    "::/128",
    "::1/128",
    "fe80::/10",
    "ff00::/8",
    "64:ff9b::/96",
    "64:ff9b:1::/48",
];

static DENIED_NETS: LazyLock<Vec<IpNet>> = LazyLock::new(|| DENIED.iter().filter_map(|n| n.parse().ok()).collect());

fn denied_by_default(ip: IpAddr) -> bool {
    DENIED_NETS.iter().any(|n| n.contains(&ip))
}

/// The IPv4 address inside an IPv4-mapped or NAT64 (64:ff9b::/96, 64:ff9b:1::/48)
/// IPv6 address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    let nat64 = s[0] == 0x64 && s[1] == 0xff9b && (s[2..6] == [0, 0, 0, 0] || s[2] == 1);
    nat64.then(|| {
        let o = ip.octets();
        Ipv4Addr::new(o[12], o[13], o[14], o[15])
    })
}

/// True when the address rules refuse `addr`: the proxy's own listeners always; then
/// `deny_destinations` and the built-in denials (loopback, link-local, 0.0.0.0/8,
/// CGNAT, multicast, and their IPv4-mapped and NAT64 forms) unless
/// `allow_destinations` covers the address.
pub fn prohibited(cfg: &ProxyConfig, listeners: &[SocketAddr], addr: SocketAddr) -> bool {
    let ip = addr.ip();
    let v4 = match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
        IpAddr::V4(_) => None,
    };
    let forms: Vec<IpAddr> = std::iter::once(ip).chain(v4).collect();
    let own = listeners.iter().any(|l| {
        l.port() == addr.port()
            && forms
                .iter()
                .any(|f| *f == l.ip() || (l.ip().is_unspecified() && (f.is_loopback() || f.is_unspecified())))
    });
    if own {
        return true;
    }
    if forms
        .iter()
        .any(|f| cfg.allow_destinations.iter().any(|n| n.contains(f)))
    {
        return false;
    }
    forms
        .iter()
        .any(|f| denied_by_default(*f) || cfg.deny_destinations.iter().any(|n| n.contains(f)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::file::Limits;

    fn cfg(allow: &[&str], deny: &[&str]) -> ProxyConfig {
        ProxyConfig {
            name: std::sync::Arc::from("t"),
            listen: "127.0.0.1:3128".parse().unwrap(),
            connect_ports: vec![443],
            allow_destinations: allow.iter().map(|n| n.parse().unwrap()).collect(),
            deny_destinations: deny.iter().map(|n| n.parse().unwrap()).collect(),
            require_sni_for_covered: false,
            allow_non_tls_tunnels: false,
            dns_overrides: Default::default(),
            limits: Limits::default(),
        }
    }

    #[test]
    fn default_denials_and_their_disguises() {
        let c = cfg(&[], &["198.51.100.0/24"]);
        let listeners = ["127.0.0.1:3128".parse().unwrap(), "0.0.0.0:9090".parse().unwrap()];
        let no = |a: &str| prohibited(&c, &listeners, a.parse().unwrap());
        for bad in [
            "127.0.0.1:80",
            "127.9.9.9:443",
            "[::1]:443",
            "169.254.169.254:80",
            "[fe80::1]:443",
            "0.0.0.0:80",
            "100.64.1.1:443",
            "[::ffff:127.0.0.1]:80",
            "[::ffff:169.254.169.254]:80",
            "[64:ff9b::7f00:1]:80",
            "[64:ff9b::a9fe:a9fe]:80",
            "198.51.100.7:443",
            "[::ffff:198.51.100.7]:443",
            "224.0.0.1:80",
            "[::]:443",
        ] {
            assert!(no(bad), "{bad} allowed");
        }
        for good in [
            "192.0.2.1:443",
            "[2001:db8::1]:443",
            "10.1.2.3:80",
            "[::ffff:192.0.2.1]:443",
        ] {
            assert!(!no(good), "{good} refused");
        }
    }

    #[test]
    fn allow_list_opens_all_but_own_listeners() {
        let c = cfg(&["127.0.0.0/8"], &[]);
        let listeners = ["127.0.0.1:3128".parse().unwrap(), "0.0.0.0:9090".parse().unwrap()];
        let no = |a: &str| prohibited(&c, &listeners, a.parse().unwrap());
        assert!(!no("127.0.0.1:8443"));
        assert!(no("127.0.0.1:3128"));
        assert!(no("[::ffff:127.0.0.1]:3128"));
        assert!(no("127.0.0.1:9090"));
        assert!(!no("127.0.0.1:9091"));
    }
}

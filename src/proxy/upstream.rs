//! Reaching the destination: address rules, DNS (only now, after the name was allowed),
//! `dns_overrides`, ruleset CIDRs on resolved addresses, and the connect itself.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use time::OffsetDateTime;
use tokio::net::TcpStream;

use super::inbound::Inbound;
use crate::config::ProxyConfig;
use crate::host::Host;
use crate::policy::{Action, Decision, Subject};
use crate::state::Snapshot;

/// An open upstream connection of plain HTTP, kept between requests to the same
/// origin (host and port).
#[derive(Debug)]
pub struct Kept {
    pub host: String,
    pub port: u16,
    pub stream: TcpStream,
    /// Response bytes received and not yet relayed.
    pub inbound: Inbound,
}

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
    check(snap, listeners, subject, addrs, now)
}

/// Checks addresses against the address rules and the rulesets' CIDRs.
///
/// # Errors
///
/// [`UpstreamError::Prohibited`] or [`UpstreamError::Blocked`] for the first address
/// refused.
pub fn check(
    snap: &Snapshot,
    listeners: &[SocketAddr],
    subject: &Subject<'_>,
    addrs: Vec<SocketAddr>,
    now: OffsetDateTime,
) -> Result<Vec<SocketAddr>, UpstreamError> {
    let cfg = &snap.config.proxy;
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

/// The IPv4 addresses an IPv6 address carries (SPEC §6): IPv4-mapped `::ffff:0:0/96`,
/// IPv4-compatible `::/96` (deprecated, RFC 4291 §2.5.5.1), NAT64 `64:ff9b::/96` and
/// `64:ff9b:1::/48` (RFC 6052, RFC 8215), 6to4 `2002::/16` (RFC 3056 §2) and Teredo
/// `2001::/32` (RFC 4380 §4: the server's address, and the client's, stored inverted).
fn embedded_v4(ip: Ipv6Addr) -> Vec<Ipv4Addr> {
    let s = ip.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    if let Some(v4) = ip.to_ipv4_mapped() {
        return vec![v4];
    }
    match s {
        [0, 0, 0, 0, 0, 0, hi, lo] => vec![v4(hi, lo)],
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] | [0x64, 0xff9b, 1, _, _, _, hi, lo] => vec![v4(hi, lo)],
        [0x2002, hi, lo, ..] => vec![v4(hi, lo)],
        [0x2001, 0, server_hi, server_lo, _, _, client_hi, client_lo] => {
            vec![v4(server_hi, server_lo), v4(!client_hi, !client_lo)]
        }
        _ => Vec::new(),
    }
}

/// True when the address rules refuse `addr` (SPEC §6): the proxy's own listeners
/// always; then `deny_destinations` and the built-in denials (loopback, link-local,
/// 0.0.0.0/8, CGNAT, multicast) unless `allow_destinations` covers the address. An
/// IPv6 address that carries an IPv4 address (`embedded_v4`) is refused when that
/// address is.
pub fn prohibited(cfg: &ProxyConfig, listeners: &[SocketAddr], addr: SocketAddr) -> bool {
    let ip = addr.ip();
    let embedded = match ip {
        IpAddr::V6(v6) => embedded_v4(v6),
        IpAddr::V4(_) => Vec::new(),
    };
    let forms: Vec<IpAddr> = std::iter::once(ip)
        .chain(embedded.into_iter().map(IpAddr::V4))
        .collect();
    if forms
        .iter()
        .any(|f| is_own(listeners, SocketAddr::new(*f, addr.port())))
    {
        return true;
    }
    forms.iter().any(|f| {
        let denied = denied_by_default(*f) || cfg.deny_destinations.iter().any(|n| n.contains(f));
        denied && !cfg.allow_destinations.iter().any(|n| n.contains(f))
    })
}

/// True when `addr` reaches one of the proxy's own listeners. A listener on a wildcard
/// address (`0.0.0.0`, `::`) answers on every local address at its port.
pub fn is_own(listeners: &[SocketAddr], addr: SocketAddr) -> bool {
    let ip = addr.ip();
    listeners
        .iter()
        .filter(|l| l.port() == addr.port())
        .any(|l| l.ip() == ip || (l.ip().is_unspecified() && (ip.is_loopback() || ip.is_unspecified() || is_local(ip))))
}

/// True when `ip` is an address of this host: binding a socket to it succeeds only
/// then (the kernel's own table of local addresses, always current, whatever comes and
/// goes on the interfaces). With `net.ipv4.ip_nonlocal_bind` set every address looks
/// local, which errs on the side of refusing.
fn is_local(ip: IpAddr) -> bool {
    std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::file::Limits;

    fn cfg(allow: &[&str], deny: &[&str]) -> ProxyConfig {
        ProxyConfig {
            name: std::sync::Arc::from("t"),
            listen: "127.0.0.1:3128".parse().unwrap(),
            transparent_listen: None,
            tls: None,
            transparent_other: crate::config::TransparentOther::RefuseCovered,
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
            // IPv4-compatible, 6to4 and Teredo (server, then inverted client) forms.
            "[::7f00:1]:80",
            "[::a9fe:a9fe]:80",
            "[::c633:6407]:443",
            "[2002:7f00:1::1]:80",
            "[2002:a9fe:a9fe:1::1]:80",
            "[2001:0:a9fe:a9fe::1]:80",
            "[2001:0:c000:201:0:0:80ff:fffe]:80",
            "[64:ff9b:1:0:0:0:a9fe:a9fe]:80",
        ] {
            assert!(no(bad), "{bad} allowed");
        }
        for good in [
            "192.0.2.1:443",
            "[2001:db8::1]:443",
            "10.1.2.3:80",
            "[::ffff:192.0.2.1]:443",
            "[::c000:201]:443",
            "[2002:c000:201::1]:443",
            "[2001:0:c000:201:0:0:3fff:fdfd]:443",
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
        // A listed network opens its embedded forms too, but never the own listeners.
        assert!(!no("[::ffff:127.0.0.1]:8443"));
        assert!(!no("[2002:7f00:1::]:8443"));
        assert!(no("[2002:7f00:1::]:9090"));
    }

    #[test]
    fn wildcard_listeners_own_every_local_address_at_their_port() {
        let c = cfg(&["0.0.0.0/0", "::/0"], &[]);
        let listeners = ["0.0.0.0:3128".parse().unwrap()];
        let no = |a: &str| prohibited(&c, &listeners, a.parse().unwrap());
        assert!(no("127.0.0.1:3128"));
        assert!(no("127.1.2.3:3128"));
        assert!(no("[::ffff:127.0.0.1]:3128"));
        assert!(!no("127.0.0.1:3129"));
        // TEST-NET-1 is no address of this host.
        assert!(!no("192.0.2.1:3128"));
        assert!(is_local("127.0.0.1".parse().unwrap()));
        assert!(!is_local("192.0.2.1".parse().unwrap()));
    }
}

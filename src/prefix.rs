//! Longest-prefix lookup over IPv4 and IPv6 networks.
//!
//! Used for the registry's device addresses and for ruleset `cidrs`. Networks are kept
//! in one hash map per prefix length; a lookup tries the lengths present, longest first,
//! so its cost depends on how many distinct lengths exist (at most 33 + 129), never on
//! how many networks there are.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;

/// A longest-prefix-match table from networks to values.
#[derive(Debug, Clone)]
pub struct PrefixTable<V> {
    v4: Family<V>,
    v6: Family<V>,
}

#[derive(Debug, Clone)]
struct Family<V> {
    /// Prefix lengths present, longest first.
    lengths: Vec<u8>,
    by_len: HashMap<(u8, u128), V>,
}

impl<V> Default for Family<V> {
    fn default() -> Self {
        Family {
            lengths: Vec::new(),
            by_len: HashMap::new(),
        }
    }
}

impl<V> Default for PrefixTable<V> {
    fn default() -> Self {
        PrefixTable {
            v4: Family::default(),
            v6: Family::default(),
        }
    }
}

impl<V> PrefixTable<V> {
    /// Inserts a network (host bits are ignored). Returns the previous value for exactly
    /// that network, if any, so callers can report duplicates.
    pub fn insert(&mut self, net: IpNet, value: V) -> Option<V> {
        let (family, bits, len) = match net {
            IpNet::V4(n) => (&mut self.v4, u128::from(u32::from(n.addr())), n.prefix_len()),
            IpNet::V6(n) => (&mut self.v6, u128::from(n.addr()), n.prefix_len()),
        };
        let width = if net.addr().is_ipv4() { 32 } else { 128 };
        let key = (len, mask(bits, len, width));
        if !family.lengths.contains(&len) {
            family.lengths.push(len);
            family.lengths.sort_unstable_by(|a, b| b.cmp(a));
        }
        family.by_len.insert(key, value)
    }

    /// The value of the longest network containing `ip`.
    pub fn lookup(&self, ip: IpAddr) -> Option<&V> {
        let (family, bits, width) = match ip {
            IpAddr::V4(a) => (&self.v4, u128::from(u32::from(a)), 32),
            IpAddr::V6(a) => (&self.v6, u128::from(a), 128),
        };
        family
            .lengths
            .iter()
            .find_map(|&len| family.by_len.get(&(len, mask(bits, len, width))))
    }

    /// Number of networks in the table.
    pub fn len(&self) -> usize {
        self.v4.by_len.len() + self.v6.by_len.len()
    }

    /// True when the table holds no network.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn mask(bits: u128, len: u8, width: u8) -> u128 {
    if len == 0 {
        return 0;
    }
    let keep = u32::from(len);
    let shift = u32::from(width) - keep;
    (bits >> shift) << shift
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn longest_prefix_wins() {
        let mut t = PrefixTable::default();
        assert!(t.insert(net("10.0.0.0/8"), "wide").is_none());
        assert!(t.insert(net("10.1.0.0/16"), "narrow").is_none());
        assert!(t.insert(net("10.1.2.3/32"), "host").is_none());
        assert!(t.insert(net("2001:db8::/32"), "v6").is_none());
        let get = |s: &str| t.lookup(s.parse().unwrap()).copied();
        assert_eq!(get("10.9.9.9"), Some("wide"));
        assert_eq!(get("10.1.9.9"), Some("narrow"));
        assert_eq!(get("10.1.2.3"), Some("host"));
        assert_eq!(get("11.0.0.1"), None);
        assert_eq!(get("2001:db8::5"), Some("v6"));
        assert_eq!(get("2001:db9::5"), None);
        assert_eq!(t.len(), 4);
    }

    #[test]
    fn duplicates_are_reported_and_default_route_works() {
        let mut t = PrefixTable::default();
        assert!(t.insert(net("0.0.0.0/0"), 1).is_none());
        assert_eq!(t.insert(net("0.0.0.0/0"), 2), Some(1));
        assert_eq!(t.lookup("8.8.8.8".parse().unwrap()), Some(&2));
        assert_eq!(t.lookup("::1".parse().unwrap()), None);
    }
}

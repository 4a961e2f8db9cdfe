//! Which device holds which address, as the network's RADIUS accounting says (SPEC
//! §13): in memory, one binding per address, each until its Stop, an Accounting-On/Off
//! of its NAS, a newer binding of the same address, or `binding_ttl` without an
//! Interim-Update. Lookups ignore expired bindings; [`Bindings::expire`] removes them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::registry::Mac;

/// One address bound to a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The registry `device_id` (looked up again at use: the registry may be reloaded).
    pub device: Arc<str>,
    pub mac: Mac,
    /// The NAS (RADIUS client) that reported it.
    pub nas: IpAddr,
    pub expires: Instant,
}

/// What a [`Bindings::bind`] changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The address was not bound.
    New,
    /// It was bound to another device (or an expired binding): that one ends.
    Replaced(Binding),
    /// The same device again: only the expiry moved (not a change to report).
    Refreshed,
}

/// The bindings of one process.
#[derive(Debug, Default)]
pub struct Bindings {
    by_ip: Mutex<HashMap<IpAddr, Binding>>,
}

impl Bindings {
    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, Binding>> {
        // Every update is a whole insert or remove: a poisoned map is still consistent.
        self.by_ip.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The device bound to `ip` now.
    pub fn device_of(&self, ip: IpAddr, now: Instant) -> Option<Arc<str>> {
        let map = self.lock();
        map.get(&ip).filter(|b| b.expires > now).map(|b| b.device.clone())
    }

    /// Binds `ip`, and says what that changed.
    pub fn bind(&self, ip: IpAddr, binding: Binding, now: Instant) -> Change {
        let mut map = self.lock();
        match map.get_mut(&ip) {
            Some(old) if old.device == binding.device && old.expires > now => {
                *old = binding;
                Change::Refreshed
            }
            _ => match map.insert(ip, binding) {
                Some(old) => Change::Replaced(old),
                None => Change::New,
            },
        }
    }

    /// Removes the binding of `ip` when it is `device`'s.
    pub fn unbind(&self, ip: IpAddr, device: &str) -> Option<Binding> {
        let mut map = self.lock();
        if map.get(&ip).is_some_and(|b| &*b.device == device) {
            return map.remove(&ip);
        }
        None
    }

    /// Removes every binding reported by `nas` (Accounting-On / Accounting-Off).
    pub fn unbind_nas(&self, nas: IpAddr) -> Vec<(IpAddr, Binding)> {
        self.take(|b| b.nas == nas)
    }

    /// Removes the bindings whose TTL is over.
    pub fn expire(&self, now: Instant) -> Vec<(IpAddr, Binding)> {
        self.take(|b| b.expires <= now)
    }

    fn take(&self, f: impl Fn(&Binding) -> bool) -> Vec<(IpAddr, Binding)> {
        let mut map = self.lock();
        let ips: Vec<IpAddr> = map.iter().filter(|(_, b)| f(b)).map(|(ip, _)| *ip).collect();
        ips.into_iter()
            .filter_map(|ip| map.remove(&ip).map(|b| (ip, b)))
            .collect()
    }

    /// Bindings held now (expired ones not yet removed included).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn b(device: &str, nas: &str, ttl: u64, now: Instant) -> Binding {
        Binding {
            device: Arc::from(device),
            mac: Mac([1, 2, 3, 4, 5, 6]),
            nas: nas.parse().unwrap(),
            expires: now + Duration::from_secs(ttl),
        }
    }

    #[test]
    fn bind_replace_unbind_and_expire() {
        let (bindings, now) = (Bindings::default(), Instant::now());
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        assert_eq!(bindings.bind(ip, b("a", "10.20.0.1", 60, now), now), Change::New);
        assert_eq!(bindings.device_of(ip, now).as_deref(), Some("a"));
        assert_eq!(
            bindings.bind(ip, b("a", "10.20.0.1", 120, now), now),
            Change::Refreshed,
            "a refresh is no change"
        );
        let Change::Replaced(replaced) = bindings.bind(ip, b("c", "10.20.0.1", 60, now), now) else {
            panic!("another device replaces");
        };
        assert_eq!(&*replaced.device, "a");
        assert_eq!(bindings.unbind(ip, "a"), None, "only the holder unbinds");
        assert_eq!(bindings.unbind(ip, "c").map(|b| b.device), Some(Arc::from("c")));
        assert!(bindings.is_empty());

        let other: IpAddr = "10.0.0.10".parse().unwrap();
        let _ = bindings.bind(ip, b("a", "10.20.0.1", 60, now), now);
        let _ = bindings.bind(other, b("c", "10.20.0.2", 1, now), now);
        assert_eq!(bindings.unbind_nas("10.20.0.1".parse().unwrap()).len(), 1);
        let later = now + Duration::from_secs(2);
        assert_eq!(bindings.device_of(other, later), None, "expired bindings are ignored");
        assert_eq!(bindings.expire(later).len(), 1);
        assert!(bindings.is_empty());
    }
}

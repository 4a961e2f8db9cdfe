//! Identity from the network's RADIUS accounting (SPEC §13, RFC 2866). The NAC or
//! WLAN controller reports every session; an accepted Start or Interim-Update binds
//! its `Framed-IP-Address` (and `Framed-IPv6-Address`) to the device whose registry
//! `macs` hold its `Calling-Station-Id`; Stop unbinds; Accounting-On/Off clear what
//! that NAS bound. Bindings come before the registry `addresses` when a device is
//! known by source address, on every listener.
//!
//! Only configured clients whose Request Authenticator verifies are accepted; they
//! always get an Accounting-Response (also for an unknown MAC), so the NAS stops
//! retransmitting; a retransmission is answered again and not applied twice. Anything
//! else is dropped silently and counted; nothing stops the listener.

pub mod bindings;
pub mod packet;

pub use bindings::{Binding, Bindings, Change};

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

use crate::events::{Action, DeviceRef, Event, EventLog};
use crate::metrics::{Metrics, ResultLabel};
use crate::registry::{Mac, Status};
use crate::state::{Snapshot, State};
use packet::StatusType;

/// Retransmissions remembered (client, identifier, authenticator → the answer sent).
const RECENT: usize = 4096;
/// How often expired bindings are removed (with their `unbound` events).
const SWEEP: Duration = Duration::from_secs(30);

/// Receive buffer asked for the accounting socket: a burst after a controller restart
/// (an Accounting-On, then a Start for every session) must not overflow it.
const RECV_BUFFER: usize = 4 << 20;

/// Binds the accounting socket (UDP) with a large receive buffer.
///
/// # Errors
///
/// The bind error.
pub fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::DGRAM, None)?;
    // The kernel may cap it (net.core.rmem_max); what it grants is enough or the best there is.
    let _ = socket.set_recv_buffer_size(RECV_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// The accounting listener: verifies, answers, binds and unbinds, and records a
/// `bound` / `unbound` event for every change.
#[derive(Debug)]
pub struct Accounting {
    pub state: Arc<State>,
    pub bindings: Arc<Bindings>,
    pub events: EventLog,
    pub metrics: Arc<Metrics>,
    recent: Mutex<Recent>,
}

/// A request as a retransmission repeats it: the client, Identifier, Authenticator.
type RequestKey = (SocketAddr, u8, [u8; 16]);

#[derive(Debug, Default)]
struct Recent {
    /// The answer sent, and the result it was counted as.
    answers: HashMap<RequestKey, ([u8; packet::MIN_LEN], &'static str)>,
    order: VecDeque<RequestKey>,
}

/// What one datagram came to.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The Accounting-Response to send back, if the request was accepted.
    pub answer: Option<[u8; packet::MIN_LEN]>,
    /// The `result` metric label.
    pub result: &'static str,
    /// Binding changes: (bound?, address, binding).
    pub changes: Vec<(bool, IpAddr, Binding)>,
}

impl Accounting {
    pub fn new(state: Arc<State>, bindings: Arc<Bindings>, events: EventLog, metrics: Arc<Metrics>) -> Accounting {
        Accounting {
            state,
            bindings,
            events,
            metrics,
            recent: Mutex::default(),
        }
    }

    /// Receives until the task is dropped; one datagram at a time (a NAS's packets are
    /// applied in the order they came).
    pub async fn serve(self: Arc<Self>, socket: UdpSocket) {
        let mut buf = vec![0u8; packet::MAX_LEN + 1];
        let mut sweep = tokio::time::interval(SWEEP);
        loop {
            tokio::select! {
                got = socket.recv_from(&mut buf) => {
                    let Ok((n, from)) = got else { continue };
                    let outcome = self.handle(&buf[..n], from, Instant::now());
                    if let Some(answer) = outcome.answer {
                        let _ = socket.send_to(&answer, from).await;
                    }
                    self.record(outcome).await;
                }
                _ = sweep.tick() => {
                    let expired = self.bindings.expire(Instant::now());
                    let changes = expired.into_iter().map(|(ip, b)| (false, ip, b)).collect();
                    self.record(Outcome { answer: None, result: "", changes }).await;
                }
            }
        }
    }

    /// Counts, records the events of binding changes, and updates the gauge.
    async fn record(&self, outcome: Outcome) {
        if !outcome.result.is_empty() {
            self.metrics
                .radius_requests
                .get_or_create(&ResultLabel { result: outcome.result })
                .inc();
        }
        let snap = self.state.load();
        for (bound, ip, b) in outcome.changes {
            let event = session_event(&snap, bound, ip, &b);
            tracing::info!(ip = %ip, device = %b.device, mac = %b.mac, nas = %b.nas, bound, "radius binding");
            self.events.record(&snap, event).await;
        }
        self.metrics
            .radius_bindings
            .set(i64::try_from(self.bindings.len()).unwrap_or(i64::MAX));
    }

    /// Applies one datagram from `from` (sans the socket: the tests call it directly).
    pub fn handle(&self, datagram: &[u8], from: SocketAddr, now: Instant) -> Outcome {
        let nothing = |result| Outcome {
            answer: None,
            result,
            changes: Vec::new(),
        };
        let snap = self.state.load();
        let Some(radius) = &snap.config.radius else {
            return nothing("unknown_client");
        };
        let Some(secret) = radius.secret_for(from.ip()) else {
            return nothing("unknown_client");
        };
        let Ok(p) = packet::parse(datagram) else {
            return nothing("malformed");
        };
        if p.code != packet::ACCOUNTING_REQUEST {
            return nothing("malformed");
        }
        if !p.verify(&secret.0) {
            return nothing("bad_authenticator");
        }
        let Ok(acct) = p.accounting() else {
            return nothing("malformed");
        };
        let answer = packet::response(&p, &secret.0);
        let key = (from, p.identifier, p.authenticator);
        {
            let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((previous, result)) = recent.answers.get(&key) {
                // A retransmission: answered again, never applied twice.
                return Outcome {
                    answer: Some(*previous),
                    result,
                    changes: Vec::new(),
                };
            }
            recent.order.push_back(key);
            if recent.order.len() > RECENT {
                if let Some(old) = recent.order.pop_front() {
                    recent.answers.remove(&old);
                }
            }
        }
        let addresses: Vec<IpAddr> = acct
            .framed_ip
            .map(IpAddr::V4)
            .into_iter()
            .chain(acct.framed_ipv6.map(IpAddr::V6))
            .collect();
        let mac = acct
            .calling_station
            .and_then(|c| std::str::from_utf8(c).ok())
            .and_then(|c| Mac::parse(c).ok());
        let mut changes = Vec::new();
        let Some(status) = acct.status else {
            // Acct-Status-Type is required (RFC 2866 §5.1).
            return nothing("malformed");
        };
        let result = match status {
            StatusType::Start | StatusType::InterimUpdate => {
                let device = mac.and_then(|m| snap.registry.by_mac(&m).map(|d| (m, d)));
                match device {
                    Some((mac, d)) if snap.registry.device(d).status == Status::Active => {
                        let device: Arc<str> = snap.registry.device(d).id.clone();
                        for ip in &addresses {
                            let binding = Binding {
                                device: device.clone(),
                                mac,
                                nas: from.ip(),
                                expires: now + radius.binding_ttl,
                            };
                            match self.bindings.bind(*ip, binding.clone(), now) {
                                Change::Refreshed => {}
                                Change::New => changes.push((true, *ip, binding)),
                                Change::Replaced(old) => {
                                    changes.push((false, *ip, old));
                                    changes.push((true, *ip, binding));
                                }
                            }
                        }
                        "bound"
                    }
                    // Unknown, retired or lost: never bound (still answered).
                    _ => "unknown_mac",
                }
            }
            StatusType::Stop => {
                if let Some(d) = mac.and_then(|m| snap.registry.by_mac(&m)) {
                    let device = snap.registry.device(d).id.clone();
                    for ip in &addresses {
                        if let Some(old) = self.bindings.unbind(*ip, &device) {
                            changes.push((false, *ip, old));
                        }
                    }
                }
                "unbound"
            }
            StatusType::AccountingOn | StatusType::AccountingOff => {
                for (ip, old) in self.bindings.unbind_nas(from.ip()) {
                    changes.push((false, ip, old));
                }
                "unbound"
            }
            // Other accounting (tunnel, failed sessions) binds nothing; answered.
            StatusType::Other(_) => "unbound",
        };
        {
            let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            recent.answers.insert(key, (answer, result));
        }
        Outcome {
            answer: Some(answer),
            result,
            changes,
        }
    }
}

/// The `bound` / `unbound` event of a binding change (SPEC §8).
fn session_event(snap: &Snapshot, bound: bool, ip: IpAddr, b: &Binding) -> Event {
    let action = if bound { Action::Bound } else { Action::Unbound };
    let mut e = Event::new(action, SocketAddr::new(ip, 0));
    e.mac = Some(b.mac);
    e.nas = Some(b.nas);
    e.device = Some(match snap.registry.by_id(&b.device) {
        Some(d) => {
            let d = snap.registry.device(d);
            DeviceRef {
                id: d.id.clone(),
                organisation: d.organisation.clone(),
                owner: d.owner.clone(),
            }
        }
        None => DeviceRef {
            id: b.device.clone(),
            organisation: None,
            owner: None,
        },
    });
    e
}

#[cfg(test)]
mod tests;

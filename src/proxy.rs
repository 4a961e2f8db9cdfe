//! The proxy. One connection story, told by every front door (SPEC §6, §6a):
//!
//! ```text
//! listener   bind, accept, max_connections, fd back-off        listener.rs
//! front door who is asking, where to (explicit: request head)   explicit.rs
//! verdict    pure: requested host, SNI, original address        verdict.rs
//! story      CONNECT tunnel (200, ClientHello, relay)           tunnel.rs, hello.rs, relay.rs
//!            plain HTTP (request, body, response)               forward.rs, response.rs, head.rs,
//!                                                               body.rs, chunked.rs
//! upstream   resolve once, check every address, dial            upstream.rs
//! finish     the ONE place an event is recorded, then answered  finish.rs (bytes: respond)
//! ```
//!
//! [`Shared`] is built once per process and handed to every listener; each connection
//! loads one snapshot at accept and keeps it (`conn.rs`).

mod advice;
mod body;
pub mod chunked;
mod client;
mod conn;
mod explicit;
mod finish;
mod forward;
#[doc(hidden)]
pub mod fuzzing;
mod head;
mod hello;
mod inbound;
mod intercept;
mod listener;
mod relay;
mod response;
mod transparent;
mod tunnel;
pub mod upstream;
pub mod verdict;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::{watch, Semaphore};

use crate::auth::AuthLimiter;
use crate::events::EventLog;
use crate::metrics::Metrics;
use crate::state::State;

pub use advice::init_local_offset;
pub use listener::{bind_reuse, Server};

/// Where the process is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Running,
    /// Not accepting; idle keep-alive connections close, tunnels may finish.
    Draining,
    /// `shutdown_grace` is over: tunnels close now (their events are still written).
    Closing,
}

/// What every connection of every listener shares: built once per process.
#[derive(Debug)]
pub struct Shared {
    pub state: Arc<State>,
    pub events: EventLog,
    pub metrics: Arc<Metrics>,
    pub limiter: AuthLimiter,
    pub dns: upstream::DnsCache,
    /// Every address this process listens on (refused as destinations).
    pub listeners: Vec<SocketAddr>,
    pub phase: watch::Receiver<Phase>,
    /// Addresses bound to devices by RADIUS accounting (empty without `[radius]`).
    pub bindings: Arc<crate::radius::Bindings>,
    /// Minted leaves for intercepted names (`[intercept] leaf_cache`).
    pub leaves: crate::tls::leaf::LeafCache,
    /// Advice pages shown and acknowledged.
    pub advice: advice::Advice,
    /// One mint at a time per shard of names.
    pub minting: intercept::MintLocks,
    /// One slot per open connection, across every listener (`max_connections`).
    slots: Arc<Semaphore>,
    max: usize,
}

impl Shared {
    /// The shared state; `listeners` are the addresses actually bound (with the ports
    /// the kernel chose for port 0) plus the configured ones.
    pub fn new(
        state: Arc<State>,
        events: EventLog,
        metrics: Arc<Metrics>,
        listeners: Vec<SocketAddr>,
        phase: watch::Receiver<Phase>,
    ) -> Arc<Shared> {
        let snap = state.load();
        let limits = &snap.config.proxy.limits;
        let max = limits.max_connections;
        Arc::new(Shared {
            limiter: AuthLimiter::new(limits.auth_failures_per_minute),
            dns: upstream::DnsCache::default(),
            bindings: Arc::default(),
            leaves: crate::tls::leaf::LeafCache::new(snap.config.intercept.as_ref().map_or(1, |i| i.leaf_cache)),
            advice: advice::Advice::default(),
            minting: intercept::MintLocks::default(),
            state,
            events,
            metrics,
            listeners,
            phase,
            slots: Arc::new(Semaphore::new(max)),
            max,
        })
    }
}

/// Waits until the phase satisfies `f` (or the sender is gone).
pub(crate) async fn until(phase: &mut watch::Receiver<Phase>, f: impl Fn(Phase) -> bool) {
    let _ = phase.wait_for(|p| f(*p)).await;
}

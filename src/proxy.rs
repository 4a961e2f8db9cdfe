//! The proxy: the listener and its accept loop, shared per-process state, and the
//! shutdown sequence. Each accepted connection runs [`flow::serve`].

mod body;
pub mod chunked;
mod flow;
mod forward;
mod head;
mod inbound;
mod relay;
mod tunnel;
pub mod upstream;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

use crate::auth::AuthLimiter;
use crate::events::{Event, EventLog, Reason};
use crate::metrics::{ListenerLabel, Metrics};
use crate::respond;
use crate::state::State;

/// Where the process is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Running,
    /// Not accepting; idle keep-alive connections close, tunnels may finish.
    Draining,
    /// `shutdown_grace` is over: tunnels close now (their events are still written).
    Closing,
}

/// What every connection shares.
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
}

/// A bound explicit-proxy listener.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
    slots: Arc<Semaphore>,
    max: usize,
}

impl Server {
    /// Binds `[proxy] listen` (or `listen` when given, e.g. port 0 in tests).
    pub async fn bind(
        state: Arc<State>,
        events: EventLog,
        metrics: Arc<Metrics>,
        listen: Option<SocketAddr>,
        phase: watch::Receiver<Phase>,
    ) -> io::Result<Server> {
        let snap = state.load();
        let addr = listen.unwrap_or(snap.config.proxy.listen);
        let listener = bind_reuse(addr)?;
        let mut listeners = vec![listener.local_addr()?];
        listeners.extend(snap.config.listeners());
        let max = snap.config.proxy.limits.max_connections;
        let limiter = AuthLimiter::new(snap.config.proxy.limits.auth_failures_per_minute);
        Ok(Server {
            listener,
            shared: Arc::new(Shared {
                state,
                events,
                metrics,
                limiter,
                dns: upstream::DnsCache::default(),
                listeners,
                phase,
            }),
            slots: Arc::new(Semaphore::new(max)),
            max,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts until draining starts, then waits for open connections to finish (they
    /// are told to close when the phase turns to `Closing`).
    pub async fn serve(self) {
        let mut phase = self.shared.phase.clone();
        loop {
            tokio::select! {
                accepted = self.listener.accept() => self.accepted(accepted).await,
                _ = until(&mut phase, |p| p != Phase::Running) => break,
            }
        }
        drop(self.listener);
        let all = u32::try_from(self.max).unwrap_or(u32::MAX);
        // Every connection holds a slot until its event is queued.
        let _ = self.slots.acquire_many(all).await;
    }

    async fn accepted(&self, accepted: io::Result<(TcpStream, SocketAddr)>) {
        match accepted {
            Ok((stream, peer)) => {
                if !cfg!(target_os = "linux") {
                    // Inherited from the listener on Linux (see `bind_reuse`).
                    let _ = stream.set_nodelay(true);
                }
                self.shared
                    .metrics
                    .connections
                    .get_or_create(&ListenerLabel { listener: "explicit" })
                    .inc();
                if self.shared.events.refuses_new_connections() {
                    tokio::spawn(refuse(self.shared.clone(), stream, peer, Reason::SpoolFull));
                    return;
                }
                match self.slots.clone().try_acquire_owned() {
                    Ok(slot) => {
                        let shared = self.shared.clone();
                        tokio::spawn(async move {
                            flow::serve(shared, stream, peer).await;
                            drop(slot);
                        });
                    }
                    Err(_) => {
                        tokio::spawn(refuse(self.shared.clone(), stream, peer, Reason::ConnectionLimit));
                    }
                }
            }
            Err(e) if is_fd_exhaustion(&e) => {
                // Out of file descriptors: back off instead of spinning on accept.
                tracing::warn!(error = %e, "accept failed: out of file descriptors, backing off");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => {
                tracing::debug!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
}

/// Waits until the phase satisfies `f` (or the sender is gone).
pub(crate) async fn until(phase: &mut watch::Receiver<Phase>, f: impl Fn(Phase) -> bool) {
    let _ = phase.wait_for(|p| f(*p)).await;
}

fn is_fd_exhaustion(e: &io::Error) -> bool {
    // EMFILE (24) and ENFILE (23) on Linux.
    matches!(e.raw_os_error(), Some(23) | Some(24))
}

/// Binds with `SO_REUSEADDR` (restart without waiting for TIME_WAIT).
fn bind_reuse(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    // Linux hands TCP_NODELAY down to accepted sockets: one system call less per connection.
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// A connection turned away at accept (over `max_connections`, or the spool is full
/// and refuses new connections): a 503 and a `refused` event, then close.
async fn refuse(shared: Arc<Shared>, mut stream: TcpStream, peer: SocketAddr, reason: Reason) {
    let snap = shared.state.load();
    let mut event = Event::new(reason.action(), peer);
    event.reason = Some(reason);
    let response = respond::refusal(reason, &event.id, respond::Answering::default());
    let (privacy, observer) = (&snap.config.privacy, &snap.config.proxy.name);
    if reason == Reason::SpoolFull {
        // Into the reserve kept for these events, so that each 503 is on record (past
        // it, counted as dropped).
        tracing::warn!(peer = %peer, event.id = %event.id, "spool full: new connection refused");
        shared.events.record_refusal(privacy, observer, event);
    } else {
        shared.events.record(privacy, observer, event).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(&response)).await;
}

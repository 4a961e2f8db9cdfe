//! A listener: bind (`SO_REUSEADDR`, `TCP_NODELAY` inherited by accepted sockets),
//! accept until draining, one slot per connection out of `max_connections` (shared by
//! every listener), back off when out of file descriptors, and hand each connection to
//! its front door. A connection turned away here gets its 503 through `finish` too.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::conn::Ctx;
use super::finish::finish;
use super::{explicit, transparent, until, Phase, Shared};
use crate::events::{EventLog, Listener, Reason};
use crate::metrics::{ListenerLabel, Metrics};
use crate::respond::{Answer, Answering};
use crate::state::State;

/// A bound listener and the front door its connections go to.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
    /// The listener (`labels.listener`, and the `listener` metric label).
    kind: Listener,
}

impl Server {
    /// An explicit-proxy listener on `listener`, sharing `shared` with the others.
    pub fn explicit(listener: TcpListener, shared: Arc<Shared>) -> Server {
        Server {
            listener,
            shared,
            kind: Listener::Explicit,
        }
    }

    /// The HTTPS proxy port (SPEC §7) on `listener`.
    pub fn tls(listener: TcpListener, shared: Arc<Shared>) -> Server {
        Server {
            listener,
            shared,
            kind: Listener::Tls,
        }
    }

    /// The HTTPS proxy port on `listener`, sharing this server's state.
    pub fn tls_beside(&self, listener: TcpListener) -> Server {
        Server::tls(listener, self.shared.clone())
    }

    /// A transparent listener (the target of a REDIRECT) on `listener`.
    pub fn transparent(listener: TcpListener, shared: Arc<Shared>) -> Server {
        Server {
            listener,
            shared,
            kind: Listener::Transparent,
        }
    }

    /// Binds `[proxy] listen` (or `listen` when given, e.g. port 0 in tests) and builds
    /// the shared state for it: the one-listener setup.
    pub async fn bind(
        state: Arc<State>,
        events: EventLog,
        metrics: Arc<Metrics>,
        listen: Option<SocketAddr>,
        phase: watch::Receiver<Phase>,
    ) -> io::Result<Server> {
        let snap = state.load();
        let listener = bind_reuse(listen.unwrap_or(snap.config.proxy.listen))?;
        let mut own = vec![listener.local_addr()?];
        own.extend(snap.config.listeners());
        let shared = Shared::new(state, events, metrics, own, phase);
        Ok(Server::explicit(listener, shared))
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
        let all = u32::try_from(self.shared.max).unwrap_or(u32::MAX);
        // Every connection holds a slot until its event is queued. (With several
        // listeners the first to finish waits for every connection; the others wait
        // for it in turn.)
        if let Ok(slots) = self.shared.slots.acquire_many(all).await {
            drop(slots);
        }
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
                    .get_or_create(&ListenerLabel {
                        listener: self.kind.as_str(),
                    })
                    .inc();
                if self.shared.events.refuses_new_connections() {
                    tokio::spawn(refuse(self.shared.clone(), stream, peer, self.kind, Reason::SpoolFull));
                    return;
                }
                match self.shared.slots.clone().try_acquire_owned() {
                    Ok(slot) => {
                        let (shared, kind) = (self.shared.clone(), self.kind);
                        tokio::spawn(async move {
                            match kind {
                                Listener::Transparent => transparent::serve(shared, stream, peer).await,
                                Listener::Tls => explicit::serve_tls(shared, stream, peer).await,
                                Listener::Explicit => explicit::serve(shared, stream, peer).await,
                            }
                            drop(slot);
                        });
                    }
                    Err(_) => {
                        tokio::spawn(refuse(
                            self.shared.clone(),
                            stream,
                            peer,
                            self.kind,
                            Reason::ConnectionLimit,
                        ));
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

fn is_fd_exhaustion(e: &io::Error) -> bool {
    // EMFILE (24) and ENFILE (23) on Linux.
    matches!(e.raw_os_error(), Some(23) | Some(24))
}

/// Binds with `SO_REUSEADDR` (restart without waiting for TIME_WAIT).
pub fn bind_reuse(addr: SocketAddr) -> io::Result<TcpListener> {
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
async fn refuse(shared: Arc<Shared>, mut stream: TcpStream, peer: SocketAddr, listener: Listener, reason: Reason) {
    let snap = shared.state.load();
    if reason == Reason::SpoolFull {
        tracing::warn!(peer = %peer, "spool full: new connection refused");
    }
    let ctx = Ctx {
        shared,
        snap,
        peer,
        listener,
        client_cert: None,
    };
    let event = ctx.event(reason.action(), None, None);
    let answer = Answer::Refusal {
        reason,
        answering: Answering::default(),
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), finish(&ctx, &mut stream, event, answer)).await;
}

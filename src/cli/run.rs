//! `slagboom run`: load, bind, serve; `SIGHUP` reloads and reopens file sinks;
//! `SIGTERM` (or Ctrl-C) drains within `shutdown_grace` and exits 0, a second one exits
//! at once.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

use super::Failure;
use crate::admin::Admin;
use crate::events::EventLog;
use crate::metrics::Metrics;
use crate::proxy::{bind_reuse, Phase, Server, Shared};
use crate::reload::{Reloader, Trigger};
use crate::state::{Snapshot, State};

pub fn run(path: &Path) -> Result<(), Failure> {
    // The local offset is read while the process has one thread (see `advice`).
    crate::proxy::init_local_offset();
    let snap = Snapshot::load(path).map_err(Failure::input)?;
    init_tracing();
    // One core (a container limit, or taskset): the single-threaded scheduler does the
    // same work without the hand-offs and atomics of work stealing.
    let one_core = std::thread::available_parallelism().is_ok_and(|n| n.get() == 1);
    let mut builder = if one_core {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = builder
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start runtime: {e}")))?;
    runtime.block_on(serve(path, snap))
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLAGBOOM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only on a terminal: journald and log files get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

async fn serve(path: &Path, snap: Snapshot) -> Result<(), Failure> {
    let metrics = Arc::new(Metrics::new());
    let events = EventLog::start(&snap.config.log, metrics.clone())
        .map_err(|e| Failure::runtime(format!("cannot open event spool or sinks: {e}")))?;
    let (listen, admin_listen) = (snap.config.proxy.listen, snap.config.admin.listen);
    let grace = snap.config.proxy.limits.shutdown_grace;
    let auth_failures_per_minute = snap.config.proxy.limits.auth_failures_per_minute;
    let state = Arc::new(State::new(snap));
    let reloader = Arc::new(Reloader::new(state.clone(), path, metrics.clone(), events.clone()));
    reloader.started();
    let (phase_tx, phase_rx) = watch::channel(Phase::Running);
    let admin_socket = crate::admin::bind(admin_listen)
        .await
        .map_err(|e| Failure::runtime(format!("cannot listen on {admin_listen} (admin): {e}")))?;
    // Every listener is bound first, then the shared state is built once for all of them.
    let cannot = |addr: SocketAddr, e: std::io::Error| Failure::runtime(format!("cannot listen on {addr}: {e}"));
    let explicit = bind_reuse(listen).map_err(|e| cannot(listen, e))?;
    let transparent_listen = state.load().config.proxy.transparent_listen;
    let transparent = match transparent_listen {
        Some(addr) => Some(bind_reuse(addr).map_err(|e| cannot(addr, e))?),
        None => None,
    };
    let tls_listen = state.load().config.proxy.tls.as_ref().map(|t| t.listen);
    let tls = match tls_listen {
        Some(addr) => Some(bind_reuse(addr).map_err(|e| cannot(addr, e))?),
        None => None,
    };
    let bound = explicit.local_addr().map_err(Failure::runtime)?;
    let mut own = vec![bound];
    own.extend(transparent.iter().chain(&tls).filter_map(|l| l.local_addr().ok()));
    own.extend(state.load().config.listeners());
    let shared = Shared::new(state.clone(), events.clone(), metrics.clone(), own, phase_rx.clone());
    let bindings = shared.bindings.clone();
    let server = Server::explicit(explicit, shared.clone());
    let tls = tls.map(|l| Server::tls(l, shared.clone()));
    let transparent = transparent.map(|l| Server::transparent(l, shared));
    let signals = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    let (Ok(mut hup), Ok(mut term), Ok(mut int)) = signals else {
        return Err(Failure::runtime("cannot install signal handlers"));
    };
    let admin = Arc::new(Admin {
        state: state.clone(),
        metrics: metrics.clone(),
        events: events.clone(),
        reloader: reloader.clone(),
        phase: phase_rx,
        helpdesk_logins: crate::auth::AuthLimiter::new(auth_failures_per_minute),
    });
    let mut background = vec![
        tokio::spawn(admin.serve(admin_socket)),
        tokio::spawn(reloader.clone().watch()),
        tokio::spawn(reloader.clone().daily_review_warning()),
    ];
    if let Some(radius) = state.load().config.radius.clone() {
        let socket = crate::radius::bind(radius.listen)
            .map_err(|e| Failure::runtime(format!("cannot listen on {} (radius): {e}", radius.listen)))?;
        let accounting = crate::radius::Accounting::new(state.clone(), bindings, events.clone(), metrics.clone());
        tracing::info!(listen = %radius.listen, clients = radius.clients.len(), "radius accounting");
        background.push(tokio::spawn(Arc::new(accounting).serve(socket)));
    }
    if let Some(ca) = &state.load().block_ca {
        let outgrown = crate::tls::ca::outgrown(&state.load(), ca);
        if !outgrown.is_empty() {
            tracing::warn!(names = %outgrown.join(", "), "the block-page CA does not permit these blocked names: run `slagboom ca init --force` and roll it out again");
        }
    }
    tracing::info!(listen = %bound, tls = ?tls_listen, transparent = ?transparent_listen, admin = %admin_listen, config = %path.display(), "slagboom is serving");
    let mut serving = tokio::spawn(async move {
        let optional = |s: Option<Server>| async move {
            if let Some(s) = s {
                s.serve().await;
            }
        };
        tokio::join!(server.serve(), optional(tls), optional(transparent));
    });
    loop {
        tokio::select! {
            _ = hup.recv() => {
                let r = reloader.clone();
                let _ = tokio::task::spawn_blocking(move || r.reload(Trigger::Signal)).await;
                events.reopen();
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    tracing::info!(grace = ?grace, "draining");
    let _ = phase_tx.send(Phase::Draining);
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::warn!("second signal: exiting at once");
        std::process::exit(0);
    });
    if tokio::time::timeout(grace, &mut serving).await.is_err() {
        tracing::info!("grace period over: closing open tunnels");
        let _ = phase_tx.send(Phase::Closing);
        let _ = tokio::time::timeout(Duration::from_secs(5), serving).await;
    }
    events.shutdown(Duration::from_secs(5)).await;
    for task in background {
        task.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

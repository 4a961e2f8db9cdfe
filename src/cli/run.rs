//! `slagboom run`: load, bind, serve; `SIGHUP` reloads and reopens file sinks;
//! `SIGTERM` (or Ctrl-C) drains within `shutdown_grace` and exits 0, a second one exits
//! at once.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

use super::Failure;
use crate::events::EventLog;
use crate::metrics::Metrics;
use crate::proxy::{Phase, Server};
use crate::state::{Snapshot, State};

pub fn run(path: &Path) -> Result<(), Failure> {
    let snap = Snapshot::load(path).map_err(Failure::input)?;
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
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
        .try_init();
}

async fn serve(path: &Path, snap: Snapshot) -> Result<(), Failure> {
    let metrics = Arc::new(Metrics::new());
    let events = EventLog::start(&snap.config.log, metrics.clone())
        .map_err(|e| Failure::runtime(format!("cannot open event spool or sinks: {e}")))?;
    let listen = snap.config.proxy.listen;
    let grace = snap.config.proxy.limits.shutdown_grace;
    warn_overdue(&snap);
    let state = Arc::new(State::new(snap));
    let (phase_tx, phase_rx) = watch::channel(Phase::Running);
    let server = Server::bind(
        state.clone(),
        events.clone(),
        metrics.clone(),
        None,
        Vec::new(),
        phase_rx,
    )
    .await
    .map_err(|e| Failure::runtime(format!("cannot listen on {listen}: {e}")))?;
    let bound = server.local_addr().map_err(Failure::runtime)?;
    let signals = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    let (Ok(mut hup), Ok(mut term), Ok(mut int)) = signals else {
        return Err(Failure::runtime("cannot install signal handlers"));
    };
    tracing::info!(listen = %bound, config = %path.display(), "slagboom is serving");
    let mut serving = tokio::spawn(server.serve());
    let daily = tokio::spawn(daily_review_warning(state.clone()));
    loop {
        tokio::select! {
            _ = hup.recv() => {
                reload(&state, path);
                events.reopen();
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    daily.abort();
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
    tracing::info!("stopped");
    Ok(())
}

/// Rebuilds the snapshot; an invalid input keeps the old one entirely.
fn reload(state: &State, path: &Path) {
    let old_listen = state.load().config.proxy.listen;
    match state.reload(path) {
        Ok(snap) => {
            tracing::info!(
                devices = snap.registry.len(),
                rulesets = snap.rules.rulesets().len(),
                "reloaded"
            );
            if snap.config.proxy.listen != old_listen {
                tracing::warn!("[proxy] listen changed: restart to apply it");
            }
            warn_overdue(&snap);
        }
        Err(e) => tracing::error!(error = %e, "reload failed; keeping the previous configuration"),
    }
}

fn warn_overdue(snap: &Snapshot) {
    for p in snap.overdue_policies(OffsetDateTime::now_utc()) {
        let due = p.review_by.map(|d| d.to_string()).unwrap_or_default();
        tracing::warn!(policy = %p.id, review_by = %due, "policy is past its review date and still enforced");
    }
}

async fn daily_review_warning(state: Arc<State>) {
    let mut tick = tokio::time::interval(Duration::from_secs(24 * 3600));
    tick.tick().await;
    loop {
        tick.tick().await;
        warn_overdue(&state.load());
    }
}

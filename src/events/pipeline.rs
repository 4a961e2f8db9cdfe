//! The event pipeline: a connection's event is put through the privacy rules and
//! appended to the disk spool (one `write(2)`, before the client sees what it
//! describes); one task per sink reads the spool in order and delivers. `SIGHUP`
//! reopens file sinks; the fsync thread bounds what a power loss can take.

use std::io;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::sink::{self, file::Lines, http::Http, relp::Relp, syslog::Syslog, Runner, Transport};
use super::spool::{Position, Spool};
use super::{privacy, Event, Record};
use crate::config::{LogConfig, SinkConfig, SinkType};
use crate::helpdesk::recent::Recent;
use crate::metrics::Metrics;

/// Where events go. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EventLog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    spool: Arc<Spool>,
    metrics: Arc<Metrics>,
    reopen: watch::Sender<u64>,
    stop: watch::Sender<bool>,
    delivered: Vec<(String, watch::Receiver<Position>)>,
    /// Per sink: recorded and not yet delivered.
    pending: Vec<Arc<AtomicI64>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// What `/helpdesk` finds by event id.
    recent: Recent,
}

impl EventLog {
    /// Opens the spool, builds every sink and starts their tasks (inside a runtime).
    pub fn start(cfg: &LogConfig, metrics: Arc<Metrics>) -> io::Result<EventLog> {
        let spool = Spool::open(&cfg.spool_dir, cfg.spool_max_bytes, cfg.on_spool_full)?;
        spool.start_fsync(cfg.fsync_interval);
        let (reopen, reopen_rx) = watch::channel(0u64);
        let (stop, stop_rx) = watch::channel(false);
        let mut delivered = Vec::new();
        let mut pending = Vec::new();
        let mut runners = Vec::new();
        // Every sink's reader is registered before any sink starts: a segment is removed
        // only once every configured sink has passed it, whatever their order, speed or
        // start-up time.
        let readers: Vec<_> = cfg.sinks.iter().map(|s| spool.reader(&s.name)).collect();
        for (s, reader) in cfg.sinks.iter().zip(readers) {
            let (tx, rx) = watch::channel(reader.position());
            delivered.push((s.name.clone(), rx));
            let backlog = Arc::new(AtomicI64::new(i64::try_from(reader.backlog()).unwrap_or(i64::MAX)));
            pending.push(backlog.clone());
            let runner = Runner {
                name: s.name.clone(),
                transport: transport(s, reopen_rx.clone(), cfg.sink_stall_timeout)?,
                reader,
                metrics: metrics.clone(),
                dead_letter: cfg.spool_dir.join("dead-letter.jsonl"),
                stall: cfg.sink_stall_timeout,
                stop: stop_rx.clone(),
                delivered: tx,
                pending: backlog,
            };
            runners.push(runner);
        }
        let tasks = runners.into_iter().map(|r| tokio::spawn(r.run())).collect();
        metrics
            .spool_bytes
            .set(i64::try_from(spool.bytes()).unwrap_or(i64::MAX));
        Ok(EventLog {
            inner: Arc::new(Inner {
                spool,
                metrics,
                reopen,
                stop,
                delivered,
                pending,
                tasks: Mutex::new(tasks),
                recent: Recent::default(),
            }),
        })
    }

    /// Applies the privacy rules and appends the event to the spool. Returns once the
    /// event is written (not yet delivered). An event the spool cannot take (the disk
    /// failed) is logged and counted in `slagboom_events_dropped_total`; the spool then
    /// refuses new connections until it can write again.
    pub async fn record(&self, snap: &crate::state::Snapshot, event: Event) {
        self.write(snap, event, false);
    }

    /// Records the event of a refusal that a full spool caused, in the reserve kept for
    /// them (SPEC §8). Past the reserve it is counted as dropped. Returns true when the
    /// event was written.
    /// Records an event from outside any connection, without waiting (a reload runs on a
    /// blocking thread).
    pub fn record_now(&self, snap: &crate::state::Snapshot, event: Event) {
        self.write(snap, event, false);
    }

    pub fn record_refusal(&self, snap: &crate::state::Snapshot, event: Event) -> bool {
        self.write(snap, event, true)
    }

    /// Stamps the event with the snapshot's observer name and policy version, applies
    /// `[privacy]`, and spools it.
    fn write(&self, snap: &crate::state::Snapshot, mut event: Event, refusal: bool) -> bool {
        event.observer = snap.config.proxy.name.clone();
        event.policy_version = Some(snap.policy_version.clone());
        let Some(event) = privacy::apply(&snap.config.privacy, event) else {
            return false;
        };
        let record = Record::from_event(&event).to_bytes();
        let spool = &self.inner.spool;
        let written = if refusal {
            spool.append_refusal(&record)
        } else {
            spool.append(&record).map(|()| true)
        };
        let written = written.unwrap_or_else(|e| {
            spool.stats.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::error!(event.id = %event.id, error = %e, "cannot write event to the spool: dropped");
            false
        });
        if written {
            let admin = &snap.config.admin;
            let keep = if admin.helpdesk_token_file.is_some() {
                admin.helpdesk_recent_events
            } else {
                0
            };
            self.inner.recent.insert(&event, keep);
            for p in &self.inner.pending {
                p.fetch_add(1, Ordering::Relaxed);
            }
        } else if refusal {
            tracing::warn!(event.id = %event.id, "spool full, reserve used up: refusal event dropped");
        }
        self.refresh_metrics();
        written
    }

    /// The recent events `/helpdesk` looks up by id (kept only while
    /// `[admin] helpdesk_token_file` is set).
    pub fn recent(&self) -> &Recent {
        &self.inner.recent
    }

    /// True when the spool is full and `on_spool_full = "refuse-new-connections"`
    /// applies: new connections are turned away (503, `spool_full`).
    pub fn refuses_new_connections(&self) -> bool {
        self.inner.spool.refuses_new()
    }

    /// Asks file sinks to reopen their files (after logrotate moved them).
    pub fn reopen(&self) {
        self.inner.reopen.send_modify(|g| *g += 1);
    }

    /// Waits until every sink has delivered everything recorded so far. Unbounded:
    /// callers put a timeout around it (a sink may be down).
    pub async fn flush(&self) {
        let target = self.inner.spool.end();
        for (_, rx) in &self.inner.delivered {
            let mut rx = rx.clone();
            let _ = rx.wait_for(|p| *p >= target).await;
        }
    }

    /// Waits until sink `name` has delivered everything recorded so far.
    pub async fn flush_sink(&self, name: &str) {
        let target = self.inner.spool.end();
        for (_, rx) in self.inner.delivered.iter().filter(|(n, _)| n == name) {
            let mut rx = rx.clone();
            let _ = rx.wait_for(|p| *p >= target).await;
        }
    }

    /// Stops the sinks after they deliver what they can within `grace`; undelivered
    /// events stay in the spool for the next start.
    pub async fn shutdown(&self, grace: Duration) {
        let _ = tokio::time::timeout(grace, self.flush()).await;
        let _ = self.inner.stop.send(true);
        let tasks: Vec<_> = std::mem::take(&mut *self.inner.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(2), t).await;
        }
        self.inner.spool.sync();
    }

    /// Events written but not yet delivered by the slowest sink, and spool bytes, for
    /// the metrics endpoint.
    pub fn refresh_metrics(&self) {
        let m = &self.inner.metrics;
        let spool = &self.inner.spool;
        m.spool_bytes.set(i64::try_from(spool.bytes()).unwrap_or(i64::MAX));
        m.events_dropped
            .inner()
            .store(spool.stats.dropped.load(Ordering::Relaxed), Ordering::Relaxed);
        m.spool_corrupt
            .inner()
            .store(spool.stats.corrupt.load(Ordering::Relaxed), Ordering::Relaxed);
        let queued = self
            .inner
            .pending
            .iter()
            .map(|p| p.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0);
        m.events_queued.set(queued.max(0));
    }
}

/// Builds a sink's transport from its configuration.
fn transport(s: &SinkConfig, reopen: watch::Receiver<u64>, stall: Duration) -> io::Result<Transport> {
    Ok(match s.kind {
        SinkType::Stdout => Transport::File(Lines::stdout(s.format, s.facility)),
        SinkType::File => {
            let path = s
                .path
                .clone()
                .ok_or_else(|| io::Error::other("file sink without path"))?;
            Transport::File(Lines::file(path, s.format, s.facility, reopen)?)
        }
        SinkType::Syslog => {
            let address = s
                .address
                .clone()
                .ok_or_else(|| io::Error::other("syslog sink without address"))?;
            if s.transport == crate::config::Transport::Relp {
                return Ok(Transport::Relp(Relp::new(address, s.format, s.facility, stall)));
            }
            Transport::Syslog(Syslog::new(
                address,
                s.transport,
                s.format,
                s.facility,
                s.tls.clone(),
                stall,
            ))
        }
        SinkType::Http => {
            let url = s
                .url
                .as_deref()
                .ok_or_else(|| io::Error::other("http sink without url"))?;
            let url = sink::http::Url::parse(url).map_err(io::Error::other)?;
            let flavour = s.flavour.ok_or_else(|| io::Error::other("http sink without flavour"))?;
            Transport::Http(Http::new(
                flavour,
                url,
                s.token.clone(),
                s.index.clone(),
                s.tls.clone(),
                (s.batch_events, s.batch_bytes, s.batch_timeout),
                stall,
            ))
        }
    })
}

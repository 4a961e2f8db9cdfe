//! Sinks: where events go. Every sink has the same anatomy: its configuration, an
//! encoder (the sink's `format`), a transport that sends a batch, and the runner below
//! that reads the spool in order, retries with backoff, counts, and acknowledges what
//! was delivered (at least once: a crash or an outage means duplicates, never a loss).

pub mod file;
pub mod http;
pub mod syslog;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::spool::{Position, Reader};
use super::Record;
use crate::metrics::Metrics;

/// Why a batch was not delivered.
#[derive(Debug)]
pub enum SendError {
    /// A transient failure (connection, 5xx, 429): send the batch again later.
    Retry(String),
    /// The receiver refused these events as invalid (4xx): they go to the dead-letter
    /// file; the rest of the batch was delivered.
    Poison(Vec<usize>, String),
}

/// A transport: the part that differs between sinks.
#[derive(Debug)]
pub enum Transport {
    File(file::Lines),
    Syslog(syslog::Syslog),
    Http(http::Http),
}

impl Transport {
    async fn send(&mut self, events: &[Record]) -> Result<(), SendError> {
        match self {
            Transport::File(t) => t.send(events),
            Transport::Syslog(t) => t.send(events).await,
            Transport::Http(t) => t.send(events).await,
        }
    }

    /// Stream transports whose writes cannot be confirmed (syslog over TCP or TLS)
    /// acknowledge a batch only once the connection is seen alive a moment later.
    fn confirms_late(&self) -> bool {
        matches!(self, Transport::Syslog(s) if s.is_stream())
    }

    async fn alive(&mut self) -> bool {
        match self {
            Transport::Syslog(s) => s.alive().await,
            _ => true,
        }
    }

    /// Batch limits: events, bytes, and how long to wait for a batch to fill.
    fn batch(&self) -> (usize, usize, Duration) {
        match self {
            Transport::Http(h) => h.batch(),
            // Line and syslog sinks send what is there (see `gather`).
            _ => (1000, 1 << 20, Duration::ZERO),
        }
    }

    /// How long a line or syslog sink lets a batch gather after its first event. Under
    /// load this turns one read, write and wake-up per event into one per batch; alone,
    /// an event waits this long more.
    fn gather(&self) -> Duration {
        match self {
            Transport::Http(_) => Duration::ZERO,
            _ => GATHER,
        }
    }
}

const GATHER: Duration = Duration::from_millis(5);

/// How long a stream write must stand before its batch counts as delivered.
const CONFIRM_AFTER: Duration = Duration::from_millis(250);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// One running sink.
#[derive(Debug)]
pub struct Runner {
    pub name: String,
    pub transport: Transport,
    pub reader: Reader,
    pub metrics: Arc<Metrics>,
    pub dead_letter: PathBuf,
    /// Turns true when the process stops: deliver what can be delivered, then return.
    pub stop: watch::Receiver<bool>,
    /// Published position up to which this sink has delivered (for `flush`).
    pub delivered: watch::Sender<Position>,
    /// Events recorded and not yet delivered by this sink.
    pub pending: Arc<std::sync::atomic::AtomicI64>,
}

impl Runner {
    /// Delivers from the spool until told to stop (and caught up, or failing).
    pub async fn run(mut self) {
        let label = self.metrics.sink(&self.name);
        let (max_events, max_bytes, linger) = self.transport.batch();
        let gather = self.transport.gather();
        let mut acked = self.reader.position();
        let mut unconfirmed: Option<(Position, Instant, u64)> = None;
        let mut backoff = BACKOFF_MIN;
        loop {
            if let Some((end, at, n)) = unconfirmed {
                if at.elapsed() >= CONFIRM_AFTER {
                    if self.transport.alive().await {
                        self.ack(end, n);
                        acked = end;
                    } else {
                        tracing::warn!(sink = %self.name, "connection lost after a write: sending again");
                        self.reader.seek(acked);
                    }
                    unconfirmed = None;
                }
            }
            let stopping = *self.stop.borrow();
            let mut batch = if stopping {
                self.reader.read_available(max_events, max_bytes)
            } else {
                let idle = if unconfirmed.is_some() {
                    CONFIRM_AFTER
                } else {
                    Duration::from_secs(1)
                };
                tokio::select! {
                    b = self.reader.next_batch(max_events, max_bytes, idle) => b,
                    _ = self.stop.changed() => continue,
                }
            };
            if !stopping && !linger.is_zero() && !batch.records.is_empty() {
                let deadline = tokio::time::Instant::now() + linger;
                self.reader.linger(&mut batch, max_events, max_bytes, deadline).await;
            }
            if !stopping && !gather.is_zero() && !batch.records.is_empty() && batch.records.len() < max_events {
                self.reader.gather(&mut batch, max_events, max_bytes, gather).await;
            }
            if batch.records.is_empty() {
                if stopping && unconfirmed.is_none() {
                    self.reader.save();
                    return;
                }
                if stopping {
                    tokio::time::sleep(CONFIRM_AFTER).await;
                } else if unconfirmed.is_none() {
                    // Idle: make the cursor file current.
                    self.reader.save();
                }
                continue;
            }
            let events: Vec<Record> = batch
                .records
                .iter()
                .filter_map(|r| {
                    let rec = Record::from_bytes(r);
                    if rec.is_none() {
                        self.metrics.spool_corrupt.inc();
                        tracing::warn!(sink = %self.name, "undecodable spool record skipped");
                    }
                    rec
                })
                .collect();
            let n = events.len() as u64;
            match self.transport.send(&events).await {
                Ok(()) if self.transport.confirms_late() => {
                    // Confirmed together once the connection is seen alive
                    // CONFIRM_AFTER after the first unconfirmed write.
                    unconfirmed = Some(match unconfirmed {
                        Some((_, at, m)) => (batch.end, at, m + n),
                        None => (batch.end, Instant::now(), n),
                    });
                    self.reader.seek(batch.end);
                    backoff = BACKOFF_MIN;
                }
                Ok(()) => {
                    self.ack(batch.end, n);
                    acked = batch.end;
                    backoff = BACKOFF_MIN;
                }
                Err(SendError::Poison(bad, why)) => {
                    self.dead_letter(&events, &bad, &why);
                    self.pending
                        .fetch_sub(bad.len() as i64, std::sync::atomic::Ordering::Relaxed);
                    self.ack(batch.end, n - bad.len() as u64);
                    acked = batch.end;
                    backoff = BACKOFF_MIN;
                }
                Err(SendError::Retry(why)) => {
                    self.metrics.sink_errors.get_or_create(&label).inc();
                    tracing::warn!(sink = %self.name, error = %why, retry_in = ?backoff, "delivery failed; events wait in the spool");
                    self.reader.seek(acked);
                    unconfirmed = None;
                    if stopping {
                        self.reader.save();
                        return;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = self.stop.changed() => {}
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }

    fn ack(&mut self, end: Position, n: u64) {
        self.reader.ack(end);
        self.pending.fetch_sub(
            i64::try_from(n).unwrap_or(i64::MAX),
            std::sync::atomic::Ordering::Relaxed,
        );
        self.metrics
            .events_delivered
            .get_or_create(&self.metrics.sink(&self.name))
            .inc_by(n);
        let _ = self.delivered.send(end);
    }

    fn dead_letter(&self, events: &[Record], bad: &[usize], why: &str) {
        let label = self.metrics.sink(&self.name);
        let mut lines = Vec::new();
        for &i in bad {
            if let Some(r) = events.get(i) {
                tracing::error!(sink = %self.name, error = %why, "event refused: dead-lettered");
                lines.extend_from_slice(&r.ecs);
                lines.push(b'\n');
                self.metrics.dead_letters.get_or_create(&label).inc();
            }
        }
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.dead_letter)
            .and_then(|mut f| f.write_all(&lines));
        if let Err(e) = written {
            tracing::error!(path = %self.dead_letter.display(), error = %e, "cannot write dead-letter file");
        }
    }
}

//! Sinks: where events go. Every sink has the same anatomy: its configuration, an
//! encoder (the sink's `format`), a transport that sends a batch, and the runner below
//! that reads the spool in order, retries with backoff, counts, and acknowledges what
//! was delivered (at least once: a crash or an outage means duplicates, never a loss).

pub mod file;
pub mod http;
pub mod relp;
pub mod stream;
pub mod syslog;

use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::spool::{Position, Reader};
use super::Record;
use crate::metrics::Metrics;

/// What sending a batch achieved.
#[derive(Debug)]
pub enum Sent {
    /// Delivered now (a file written, an HTTP 2xx, a UDP datagram sent).
    Delivered,
    /// Handed to a connection: delivered once `Transport::acknowledged` reaches
    /// `mark`. `poison` are events that could not be encoded (never sent).
    Pending { mark: u64, poison: Vec<usize> },
}

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
    Relp(relp::Relp),
    Http(http::Http),
}

impl Transport {
    async fn send(&mut self, events: &[Record]) -> Result<Sent, SendError> {
        match self {
            Transport::File(t) => t.send(events).map(|()| Sent::Delivered),
            Transport::Syslog(t) => t.send(events).await,
            Transport::Relp(t) => t.send(events).await,
            Transport::Http(t) => t.send(events).await.map(|()| Sent::Delivered),
        }
    }

    /// How far the receiver has acknowledged what [`Sent::Pending`] handed over.
    async fn acknowledged(&mut self) -> Result<u64, String> {
        match self {
            Transport::Syslog(t) => t.acknowledged().await,
            Transport::Relp(t) => t.acknowledged().await,
            Transport::File(_) | Transport::Http(_) => Ok(u64::MAX),
        }
    }

    /// Gives up the connection (stalled): the next send starts a new one.
    fn reset(&mut self) {
        match self {
            Transport::Syslog(t) => t.reset(),
            Transport::Relp(t) => t.reset(),
            Transport::File(_) | Transport::Http(_) => {}
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

/// How often acknowledgements are looked at while batches are outstanding.
const ACK_POLL: Duration = Duration::from_millis(10);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Batches handed to a connection and not yet acknowledged, oldest first.
#[derive(Debug, Default)]
struct InFlight {
    /// (mark, spool position after the batch, events in it).
    batches: VecDeque<(u64, Position, u64)>,
    /// The highest mark acknowledged so far on this connection, and when it moved.
    seen: u64,
    moved: Option<Instant>,
}

impl InFlight {
    fn push(&mut self, mark: u64, end: Position, n: u64) {
        if self.batches.is_empty() {
            self.moved = Some(Instant::now());
        }
        self.batches.push_back((mark, end, n));
    }

    fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    fn events(&self) -> u64 {
        self.batches.iter().map(|b| b.2).sum()
    }

    /// Forgets everything (the connection is gone: it is all sent again).
    fn clear(&mut self) {
        *self = InFlight::default();
    }
}

/// One running sink.
#[derive(Debug)]
pub struct Runner {
    pub name: String,
    pub transport: Transport,
    pub reader: Reader,
    pub metrics: Arc<Metrics>,
    pub dead_letter: PathBuf,
    /// A connection that acknowledges nothing this long while events are outstanding
    /// is replaced (`[log] sink_stall_timeout`).
    pub stall: Duration,
    /// Turns true when the process stops: deliver what can be delivered, then return.
    pub stop: watch::Receiver<bool>,
    /// Published position up to which this sink has delivered (for `flush`).
    pub delivered: watch::Sender<Position>,
    /// Events recorded and not yet delivered by this sink.
    pub pending: Arc<std::sync::atomic::AtomicI64>,
}

impl Runner {
    /// Delivers from the spool until told to stop (and caught up, or failing).
    ///
    /// At least once: the spool cursor moves only past events the receiver has (for
    /// stream transports, acknowledged at the TCP level); after any failure, or a
    /// connection that stalls, everything not acknowledged is sent again.
    pub async fn run(mut self) {
        let (max_events, max_bytes, linger) = self.transport.batch();
        let gather = self.transport.gather();
        let mut acked = self.reader.position();
        let mut flight = InFlight::default();
        let mut backoff = BACKOFF_MIN;
        loop {
            let stopping = *self.stop.borrow();
            if !flight.is_empty() {
                if let Err(why) = self.confirm(&mut flight, &mut acked).await {
                    if self.failed(&why, &mut flight, acked, &mut backoff, stopping).await {
                        return;
                    }
                    continue;
                }
            }
            let mut batch = if stopping {
                self.reader.read_available(max_events, max_bytes)
            } else {
                let idle = if flight.is_empty() {
                    Duration::from_secs(1)
                } else {
                    ACK_POLL
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
                if flight.is_empty() {
                    // Idle: make the cursor file current.
                    self.reader.save();
                    if stopping {
                        return;
                    }
                } else if stopping {
                    tokio::time::sleep(ACK_POLL).await;
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
                Ok(Sent::Delivered) => {
                    self.ack(batch.end, n);
                    acked = batch.end;
                    backoff = BACKOFF_MIN;
                }
                Ok(Sent::Pending { mark, poison }) => {
                    if !poison.is_empty() {
                        self.dead_letter(&events, &poison, "cannot encode");
                        self.pending
                            .fetch_sub(poison.len() as i64, std::sync::atomic::Ordering::Relaxed);
                    }
                    flight.push(mark, batch.end, n - poison.len() as u64);
                    self.reader.seek(batch.end);
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
                    if self.failed(&why, &mut flight, acked, &mut backoff, stopping).await {
                        return;
                    }
                }
            }
        }
    }

    /// Acknowledges every outstanding batch the receiver has acknowledged.
    ///
    /// # Errors
    ///
    /// The connection failed, or acknowledged nothing for `stall` while batches were
    /// outstanding.
    async fn confirm(&mut self, flight: &mut InFlight, acked: &mut Position) -> Result<(), String> {
        let mark = self.transport.acknowledged().await?;
        if mark > flight.seen {
            flight.seen = mark;
            flight.moved = Some(Instant::now());
        }
        while let Some(&(m, end, n)) = flight.batches.front() {
            if m > mark {
                break;
            }
            flight.batches.pop_front();
            self.ack(end, n);
            *acked = end;
        }
        if !flight.is_empty() && flight.moved.is_some_and(|at| at.elapsed() >= self.stall) {
            self.transport.reset();
            return Err(format!("the collector acknowledged nothing for {:?}", self.stall));
        }
        Ok(())
    }

    /// A failed delivery: counts it, rewinds to the last acknowledged event (everything
    /// after it is sent again), and backs off. Returns true when the runner should end
    /// (the process is stopping).
    async fn failed(
        &mut self,
        why: &str,
        flight: &mut InFlight,
        acked: Position,
        backoff: &mut Duration,
        stopping: bool,
    ) -> bool {
        let label = self.metrics.sink(&self.name);
        self.metrics.sink_errors.get_or_create(&label).inc();
        let resend = flight.events();
        tracing::warn!(sink = %self.name, error = %why, unacknowledged = resend, retry_in = ?*backoff, "delivery failed; events wait in the spool and are sent again");
        self.transport.reset();
        self.reader.seek(acked);
        flight.clear();
        if stopping {
            self.reader.save();
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(*backoff) => {}
            _ = self.stop.changed() => {}
        }
        *backoff = (*backoff * 2).min(BACKOFF_MAX);
        false
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

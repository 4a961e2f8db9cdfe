//! The event pipeline: connections encode events and queue them (bounded); one writer
//! thread drains the queue in batches into every sink, flushing after each batch.
//! `SIGHUP` reopens file sinks (for logrotate).

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use super::{ecs, privacy, Event};
use crate::config::{LogConfig, PrivacyConfig, SinkType};

/// Queue depth between connections and the writer.
const QUEUE: usize = 65_536;

enum Msg {
    Line(Vec<u8>),
    Reopen,
    Flush(oneshot::Sender<()>),
}

/// Where events go. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EventLog {
    tx: mpsc::Sender<Msg>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Msg")
    }
}

/// The writer thread; join it after the last `EventLog` clone is dropped.
#[derive(Debug)]
pub struct Writer {
    handle: JoinHandle<()>,
}

impl Writer {
    /// Waits until every queued event is written and the sinks are closed.
    pub fn join(self) {
        if self.handle.join().is_err() {
            tracing::error!("event writer thread panicked");
        }
    }
}

impl EventLog {
    /// Opens the sinks and starts the writer thread.
    pub fn start(cfg: &LogConfig) -> io::Result<(EventLog, Writer)> {
        let mut sinks = Vec::new();
        for s in &cfg.sinks {
            sinks.push(Sink::open(s.kind, s.path.clone(), &s.name)?);
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        let handle = std::thread::Builder::new()
            .name("slagboom-events".into())
            .spawn(move || run(rx, sinks))?;
        Ok((EventLog { tx }, Writer { handle }))
    }

    /// Applies the privacy rules, encodes the event and queues it. Waits when the queue
    /// is full (nothing unaudited passes).
    pub async fn record(&self, privacy: &PrivacyConfig, observer: &str, event: Event) {
        let Some(event) = privacy::apply(privacy, event) else {
            return;
        };
        let mut line = Vec::with_capacity(768);
        ecs::encode(&event, observer, &mut line);
        if self.tx.send(Msg::Line(line)).await.is_err() {
            tracing::error!(event.id = %event.id, "event writer is gone; event lost");
        }
    }

    /// Asks file sinks to reopen their files (after logrotate moved them).
    pub async fn reopen(&self) {
        let _ = self.tx.send(Msg::Reopen).await;
    }

    /// Waits until everything queued so far has been written and flushed.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

struct Sink {
    name: String,
    path: Option<PathBuf>,
    out: BufWriter<Box<dyn Write + Send>>,
}

impl Sink {
    fn open(kind: SinkType, path: Option<PathBuf>, name: &str) -> io::Result<Sink> {
        let out: Box<dyn Write + Send> = match (kind, &path) {
            (SinkType::File, Some(p)) => Box::new(open_append(p)?),
            _ => Box::new(io::stdout()),
        };
        Ok(Sink {
            name: name.to_owned(),
            path,
            out: BufWriter::with_capacity(64 * 1024, out),
        })
    }

    fn reopen(&mut self) {
        let Some(path) = &self.path else { return };
        let _ = self.out.flush();
        match open_append(path) {
            Ok(f) => self.out = BufWriter::with_capacity(64 * 1024, Box::new(f)),
            Err(e) => tracing::error!(sink = %self.name, error = %e, "cannot reopen event file"),
        }
    }
}

fn open_append(path: &PathBuf) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

fn run(mut rx: mpsc::Receiver<Msg>, mut sinks: Vec<Sink>) {
    let mut waiting = Vec::new();
    while let Some(first) = rx.blocking_recv() {
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Line(line) => {
                    for s in &mut sinks {
                        if let Err(e) = s.out.write_all(&line) {
                            tracing::error!(sink = %s.name, error = %e, "event write failed");
                        }
                    }
                }
                Msg::Reopen => sinks.iter_mut().for_each(Sink::reopen),
                Msg::Flush(done) => waiting.push(done),
            }
            next = rx.try_recv().ok();
        }
        for s in &mut sinks {
            if let Err(e) = s.out.flush() {
                tracing::error!(sink = %s.name, error = %e, "event flush failed");
            }
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
    for s in &mut sinks {
        let _ = s.out.flush();
    }
}

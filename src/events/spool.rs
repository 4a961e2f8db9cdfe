//! The disk spool: every event is appended here before the client sees what it
//! describes, and every sink reads from here, in order, at its own pace.
//!
//! This file is the writer's side (segments, appends, the reserve, cursors and the
//! segments they free); `reader.rs` is a sink's side.
//!
//! Layout of `spool_dir`: segment files `NNNNNNNNNNNNNNNNNNNN.seg` (append-only, rolled at
//! [`SEGMENT_BYTES`]) and one `SINK.cursor` file per sink (the position it has delivered
//! up to, replaced atomically). A record is `len: u32 LE, crc32: u32 LE, payload`. A
//! restart never appends to an old segment, so a torn write (a `kill -9` or power loss
//! in the middle of a record) can only sit at the end of a sealed segment: readers
//! detect it by length or checksum, count it and move on. Segments every sink has read
//! past are deleted.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

use crate::config::OnSpoolFull;

/// Largest segment: the writer starts a new file past this size (or past an eighth of
/// `spool_max_bytes`, so that dropping the oldest segment always frees room).
pub const SEGMENT_BYTES: u64 = 16 << 20;
/// How often a reader's cursor file is rewritten while it delivers.
const CURSOR_SAVE: Duration = Duration::from_millis(200);
/// Largest record accepted (an event is a few hundred bytes).
const MAX_RECORD: u32 = 1 << 20;
const HEADER: usize = 8;
/// Largest reserve for refusal events.
const RESERVE_MAX: u64 = 1 << 20;

/// A place in the spool: segment number and byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub segment: u64,
    pub offset: u64,
}

/// Counters the metrics endpoint exposes.
#[derive(Debug, Default)]
pub struct SpoolStats {
    pub appended: AtomicU64,
    pub dropped: AtomicU64,
    pub corrupt: AtomicU64,
}

#[derive(Debug)]
struct Active {
    segment: u64,
    file: File,
    len: u64,
    dirty: bool,
    scratch: Vec<u8>,
}

#[derive(Debug)]
struct Segments {
    /// Sealed and active segments on disk, oldest first: (number, bytes).
    list: Vec<(u64, u64)>,
    /// Every registered reader's delivered position.
    cursors: HashMap<String, Position>,
}

/// The spool of one process.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    /// The tail of `max_bytes` kept for the events of refusals a full spool causes
    /// (1 MiB or 1 %, whichever is smaller).
    reserve: u64,
    /// True after a write failed (disk full, I/O error) and until one succeeds: the
    /// spool counts as full.
    failing: std::sync::atomic::AtomicBool,
    segment_bytes: u64,
    on_full: OnSpoolFull,
    active: Mutex<Active>,
    segments: Mutex<Segments>,
    /// Bytes of all segments on disk.
    bytes: AtomicU64,
    /// (active segment, committed length), for readers of the active segment.
    committed: Mutex<Position>,
    notify: Notify,
    pub stats: SpoolStats,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves consistent data (every update is a whole
    // assignment), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:020}.seg"))
}

impl Spool {
    /// Opens (or creates) the spool in `dir` and starts a new segment.
    pub fn open(dir: &Path, max_bytes: u64, on_full: OnSpoolFull) -> io::Result<Arc<Spool>> {
        fs::create_dir_all(dir).map_err(|e| io::Error::new(e.kind(), format!("spool_dir {}: {e}", dir.display())))?;
        let mut list = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(n) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".seg"))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                // Not a segment (a cursor, the dead letters, or a stray file): left alone.
                continue;
            };
            if n >= u64::MAX / 2 {
                // No segment this process made is numbered so high; numbering on from it
                // would overflow. Left alone, as a stray file.
                tracing::warn!(file = ?name, "spool: a stray file named like a segment is ignored");
                continue;
            }
            list.push((n, entry.metadata()?.len()));
        }
        list.sort_unstable();
        let next = list.last().map_or(1, |(n, _)| n + 1);
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(segment_path(dir, next))?;
        list.push((next, 0));
        let bytes = list.iter().map(|(_, b)| b).sum();
        Ok(Arc::new(Spool {
            dir: dir.to_path_buf(),
            max_bytes,
            reserve: (max_bytes / 100).min(RESERVE_MAX),
            failing: std::sync::atomic::AtomicBool::new(false),
            segment_bytes: (max_bytes / 8).clamp(4096, SEGMENT_BYTES),
            on_full,
            active: Mutex::new(Active {
                segment: next,
                file,
                len: 0,
                dirty: false,
                scratch: Vec::with_capacity(1024),
            }),
            segments: Mutex::new(Segments {
                list,
                cursors: HashMap::new(),
            }),
            bytes: AtomicU64::new(bytes),
            committed: Mutex::new(Position {
                segment: next,
                offset: 0,
            }),
            notify: Notify::new(),
            stats: SpoolStats::default(),
        }))
    }

    /// Bytes on disk.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// The position after the last record written.
    pub fn end(&self) -> Position {
        *lock(&self.committed)
    }

    /// True when the spool is full and configured to refuse new connections.
    pub fn refuses_new(&self) -> bool {
        self.on_full == OnSpoolFull::RefuseNewConnections && self.is_full()
    }

    /// True when the spool has reached `spool_max_bytes` less the reserve for refusal
    /// events, or when the last write to it failed.
    pub fn is_full(&self) -> bool {
        self.failing.load(Ordering::Relaxed) || self.bytes() + self.reserve >= self.max_bytes
    }

    /// Appends one record with a single `write(2)`. With `drop-oldest`, the oldest
    /// segments are dropped (and counted) to make room; with `refuse-new-connections`
    /// the record is still written (it describes traffic already admitted) and
    /// [`Spool::is_full`] turns new connections away.
    ///
    /// # Errors
    ///
    /// The write failed (disk full, I/O error): the segment is cut back to its last
    /// whole record, and the spool counts as full until a write succeeds again.
    pub fn append(&self, payload: &[u8]) -> io::Result<()> {
        let size = (HEADER + payload.len()) as u64;
        if self.on_full == OnSpoolFull::DropOldest && self.bytes() + size > self.max_bytes {
            self.drop_oldest(size);
        }
        self.write_record(payload)
    }

    /// Appends the event of a refusal that a full spool caused, into the reserve.
    /// Returns false (and counts it dropped) when even the reserve is full.
    ///
    /// # Errors
    ///
    /// As [`Spool::append`].
    pub fn append_refusal(&self, payload: &[u8]) -> io::Result<bool> {
        let size = (HEADER + payload.len()) as u64;
        if self.bytes() + size > self.max_bytes {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            return Ok(false);
        }
        self.write_record(payload).map(|()| true)
    }

    fn write_record(&self, payload: &[u8]) -> io::Result<()> {
        let len = u32::try_from(payload.len()).ok().filter(|l| *l <= MAX_RECORD);
        let len = len.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "record too large"))?;
        let size = (HEADER + payload.len()) as u64;
        let mut a = lock(&self.active);
        let a = &mut *a;
        a.scratch.clear();
        a.scratch.extend_from_slice(&len.to_le_bytes());
        a.scratch.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        a.scratch.extend_from_slice(payload);
        if let Err(e) = a.file.write_all(&a.scratch) {
            // Part of the record may be on disk: cut the segment back to its last whole
            // record, so writer and readers agree on every offset when space returns.
            if let Err(cut) = a.file.set_len(a.len) {
                tracing::error!(segment = a.segment, error = %cut, "cannot cut the spool segment back");
            }
            if !self.failing.swap(true, Ordering::Relaxed) {
                tracing::error!(error = %e, "spool write failed: refusing new connections until it works again");
            }
            return Err(e);
        }
        if self.failing.swap(false, Ordering::Relaxed) {
            tracing::warn!("spool writes work again");
        }
        a.len += size;
        a.dirty = true;
        self.bytes.fetch_add(size, Ordering::Relaxed);
        self.stats.appended.fetch_add(1, Ordering::Relaxed);
        {
            let mut segs = lock(&self.segments);
            if let Some(last) = segs.list.last_mut() {
                last.1 = a.len;
            }
        }
        *lock(&self.committed) = Position {
            segment: a.segment,
            offset: a.len,
        };
        if a.len >= self.segment_bytes {
            // The record is written; a segment that cannot be started now is tried
            // again after the next record.
            if let Err(e) = self.roll(a) {
                tracing::error!(error = %e, "cannot start a new spool segment");
            }
        }
        self.notify.notify_waiters();
        Ok(())
    }

    fn roll(&self, a: &mut Active) -> io::Result<()> {
        let _ = a.file.sync_data();
        let next = a.segment + 1;
        a.file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(segment_path(&self.dir, next))?;
        a.segment = next;
        a.len = 0;
        a.dirty = false;
        lock(&self.segments).list.push((next, 0));
        *lock(&self.committed) = Position {
            segment: next,
            offset: 0,
        };
        Ok(())
    }

    /// Drops sealed segments, oldest first, until `need` more bytes fit.
    fn drop_oldest(&self, need: u64) {
        let mut segs = lock(&self.segments);
        while self.bytes() + need > self.max_bytes && segs.list.len() > 1 {
            let (n, size) = segs.list.remove(0);
            let path = segment_path(&self.dir, n);
            let records = count_records(&path);
            if fs::remove_file(&path).is_ok() {
                self.bytes.fetch_sub(size, Ordering::Relaxed);
                self.stats.dropped.fetch_add(records, Ordering::Relaxed);
                tracing::warn!(segment = n, events = records, "spool full: dropped the oldest events");
            }
        }
    }

    /// Flushes written records to stable storage (run every `fsync_interval`). The
    /// append lock is held only to take a handle, never during the fsync itself.
    pub fn sync(&self) {
        let handle = {
            let mut a = lock(&self.active);
            if !a.dirty {
                return;
            }
            a.dirty = false;
            a.file.try_clone()
        };
        if let Err(e) = handle.and_then(|f| f.sync_data()) {
            tracing::error!(error = %e, "spool fsync failed");
        }
    }

    /// Syncs every `interval` until the spool is dropped.
    pub fn start_fsync(self: &Arc<Spool>, interval: Duration) {
        let weak = Arc::downgrade(self);
        let _ = std::thread::Builder::new()
            .name("slagboom-fsync".into())
            .spawn(move || loop {
                #[allow(clippy::disallowed_methods)] // a dedicated thread, not a runtime worker
                std::thread::sleep(interval);
                match weak.upgrade() {
                    Some(spool) => spool.sync(),
                    None => return,
                }
            });
    }

    /// Opens a reader for sink `name` at its saved cursor (or the oldest record).
    pub fn reader(self: &Arc<Spool>, name: &str) -> Reader {
        let saved = fs::read_to_string(self.cursor_path(name))
            .ok()
            .and_then(|t| parse_cursor(&t));
        let oldest = lock(&self.segments)
            .list
            .first()
            .map_or(Position::default(), |(n, _)| Position { segment: *n, offset: 0 });
        // A cursor past the end (a spool directory restored or edited by hand) would
        // skip every new record: start from the oldest instead (duplicates, no gap).
        let end = self.end();
        let pos = saved.filter(|p| *p >= oldest && *p <= end).unwrap_or(oldest);
        lock(&self.segments).cursors.insert(name.to_owned(), pos);
        Reader {
            spool: self.clone(),
            name: name.to_owned(),
            pos,
            acked: pos,
            saved: std::time::Instant::now(),
            saved_pos: pos,
            open: None,
        }
    }

    fn cursor_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.cursor"))
    }

    /// Records that `name` delivered everything before `pos`, and deletes segments no
    /// reader needs any more.
    fn ack(&self, name: &str, pos: Position, persist: bool) -> io::Result<()> {
        if persist {
            let tmp = self.dir.join(format!("{name}.cursor.tmp"));
            fs::write(&tmp, format!("{} {}\n", pos.segment, pos.offset))?;
            fs::rename(&tmp, self.cursor_path(name))?;
        }
        let mut segs = lock(&self.segments);
        segs.cursors.insert(name.to_owned(), pos);
        let min = segs.cursors.values().map(|p| p.segment).min().unwrap_or(0);
        while segs.list.len() > 1 && segs.list[0].0 < min {
            let (n, size) = segs.list.remove(0);
            if fs::remove_file(segment_path(&self.dir, n)).is_ok() {
                self.bytes.fetch_sub(size, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// Waits until something new is appended (or `timeout` passes).
    async fn wait(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.notify.notified()).await;
    }
}

fn parse_cursor(text: &str) -> Option<Position> {
    let mut parts = text.split_whitespace();
    let segment = parts.next()?.parse().ok()?;
    let offset = parts.next()?.parse().ok()?;
    Some(Position { segment, offset })
}

/// Counts the whole records in a segment file (for the dropped-events counter).
fn count_records(path: &Path) -> u64 {
    let Ok(file) = File::open(path) else { return 0 };
    let mut offset = 0u64;
    let mut n = 0;
    let mut header = [0u8; HEADER];
    while file.read_exact_at(&mut header, offset).is_ok() {
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        offset += HEADER as u64 + u64::from(len);
        n += 1;
    }
    n
}

mod reader;

pub use reader::{Batch, Reader};

#[cfg(test)]
mod tests;

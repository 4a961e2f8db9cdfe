//! A sink's side of the spool: records read in order from the segment files (a
//! chunk at a time, never past what the writer committed), a read position that may
//! run ahead of the delivered cursor (batches sent and not yet acknowledged), and the
//! cursor itself, saved to `SINK.cursor`.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::{lock, segment_path, Position, Spool, CURSOR_SAVE, HEADER, MAX_RECORD};

/// One sink's view of the spool.
#[derive(Debug)]
pub struct Reader {
    pub(super) spool: Arc<Spool>,
    pub(super) name: String,
    /// Where the next read starts (past batches sent and not yet acknowledged).
    pub(super) pos: Position,
    /// Everything before this is delivered.
    pub(super) acked: Position,
    /// When and where the cursor file was last written.
    pub(super) saved: std::time::Instant,
    pub(super) saved_pos: Position,
    /// The segment file being read, kept open between records.
    pub(super) open: Option<OpenSegment>,
}

/// Bytes read from a segment in one `pread` and handed out record by record: a sink
/// catching up reads a batch with a few system calls instead of two per record.
#[derive(Debug)]
pub(super) struct OpenSegment {
    number: u64,
    file: File,
    /// A copy of the file from `start`; only bytes that are final (before the committed
    /// end of the active segment, or anywhere in a sealed one).
    buf: Vec<u8>,
    start: u64,
}

/// How much one read asks for.
pub(super) const READ_CHUNK: usize = 256 * 1024;

impl OpenSegment {
    /// Fills `out` from `offset`, from the buffer when it holds those bytes. `limit` is
    /// the committed end of the active segment (`None` for a sealed one).
    fn read_exact_at(&mut self, out: &mut [u8], offset: u64, limit: Option<u64>) -> io::Result<()> {
        let end = offset + out.len() as u64;
        let buffered = self.start + self.buf.len() as u64;
        if offset < self.start || end > buffered {
            let mut want = READ_CHUNK.max(out.len());
            if let Some(l) = limit {
                // Never keep bytes past the committed end: they may still be written.
                want = want.min(usize::try_from(l.saturating_sub(offset)).unwrap_or(usize::MAX));
                if want < out.len() {
                    return self.file.read_exact_at(out, offset);
                }
            }
            self.buf.clear();
            self.buf.resize(want, 0);
            let mut got = 0;
            while got < want {
                match self.file.read_at(&mut self.buf[got..], offset + got as u64) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.buf.clear();
                        return Err(e);
                    }
                }
            }
            self.buf.truncate(got);
            self.start = offset;
        }
        let from = usize::try_from(offset - self.start).unwrap_or(usize::MAX);
        match self.buf.get(from..from + out.len()) {
            Some(bytes) => {
                out.copy_from_slice(bytes);
                Ok(())
            }
            None => Err(io::ErrorKind::UnexpectedEof.into()),
        }
    }
}

/// A batch of records and the position after its last one.
#[derive(Debug, Default)]
pub struct Batch {
    pub records: Vec<Vec<u8>>,
    pub end: Position,
}

impl Reader {
    /// The position of the next record to read.
    pub fn position(&self) -> Position {
        self.pos
    }

    /// Reads up to `max_records` / `max_bytes` (at least one record when any is
    /// available). Waits up to `wait` for the first one. The records count as delivered
    /// only after [`Reader::ack`].
    pub async fn next_batch(&mut self, max_records: usize, max_bytes: usize, wait: Duration) -> Batch {
        let mut batch = self.read_available(max_records, max_bytes);
        if batch.records.is_empty() {
            self.spool.wait(wait).await;
            batch = self.read_available(max_records, max_bytes);
        }
        batch
    }

    /// Reads what is on disk now, without waiting.
    pub fn read_available(&mut self, max_records: usize, max_bytes: usize) -> Batch {
        let mut batch = Batch {
            records: Vec::new(),
            end: self.pos,
        };
        self.extend(&mut batch, max_records, max_bytes);
        batch
    }

    /// Waits until `deadline` for the batch to fill up to `max_records` / `max_bytes`
    /// (HTTP sinks send fewer, larger requests this way).
    pub async fn linger(
        &mut self,
        batch: &mut Batch,
        max_records: usize,
        max_bytes: usize,
        deadline: tokio::time::Instant,
    ) {
        loop {
            self.extend(batch, max_records, max_bytes);
            let bytes: usize = batch.records.iter().map(Vec::len).sum();
            if batch.records.len() >= max_records || bytes >= max_bytes {
                return;
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return;
            }
            self.spool.wait(deadline - now).await;
        }
    }

    /// Waits `pause`, then adds what arrived meanwhile (within the limits).
    pub async fn gather(&mut self, batch: &mut Batch, max_records: usize, max_bytes: usize, pause: Duration) {
        tokio::time::sleep(pause).await;
        self.extend(batch, max_records, max_bytes);
    }

    /// Appends what is on disk after `batch.end` to the batch, within the limits.
    fn extend(&mut self, batch: &mut Batch, max_records: usize, max_bytes: usize) {
        let mut bytes: usize = batch.records.iter().map(Vec::len).sum();
        let mut pos = batch.end;
        while batch.records.len() < max_records && bytes < max_bytes {
            let committed = *lock(&self.spool.committed);
            let limit = (pos.segment == committed.segment).then_some(committed.offset);
            match read_record(&self.spool, &mut self.open, pos, limit) {
                Step::Record(payload, next) => {
                    bytes += payload.len();
                    batch.records.push(payload);
                    pos = next;
                }
                Step::Skip(next) => pos = next,
                Step::Wait => break,
            }
        }
        batch.end = pos;
    }

    /// Marks everything before `end` delivered. The read position moves there too
    /// unless reading is already further on (batches sent and not yet acknowledged).
    /// The cursor file is written at most every `CURSOR_SAVE` (and by
    /// [`Reader::save`]): a crash in between means a few duplicates, never a loss.
    pub fn ack(&mut self, end: Position) {
        self.acked = end;
        self.pos = self.pos.max(end);
        let persist = self.saved.elapsed() >= CURSOR_SAVE;
        if persist {
            self.saved = std::time::Instant::now();
            self.saved_pos = end;
        }
        if let Err(e) = self.spool.ack(&self.name, end, persist) {
            tracing::error!(sink = %self.name, error = %e, "cannot save spool cursor");
        }
    }

    /// Writes the cursor file now if it is behind (when idle, and at shutdown).
    pub fn save(&mut self) {
        if self.saved_pos == self.acked {
            return;
        }
        self.saved = std::time::Instant::now();
        self.saved_pos = self.acked;
        if let Err(e) = self.spool.ack(&self.name, self.acked, true) {
            tracing::error!(sink = %self.name, error = %e, "cannot save spool cursor");
        }
    }

    /// Records between this reader's position and the end of the spool (a scan of
    /// the record headers; used once at start for the queued-events gauge).
    pub fn backlog(&self) -> u64 {
        let end = self.spool.end();
        let segments: Vec<u64> = lock(&self.spool.segments)
            .list
            .iter()
            .map(|(n, _)| *n)
            .filter(|n| *n >= self.pos.segment)
            .collect();
        let mut total = 0;
        for n in segments {
            let Ok(file) = File::open(segment_path(&self.spool.dir, n)) else {
                continue;
            };
            let mut offset = if n == self.pos.segment { self.pos.offset } else { 0 };
            let mut header = [0u8; HEADER];
            while (n != end.segment || offset < end.offset) && file.read_exact_at(&mut header, offset).is_ok() {
                let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
                offset += HEADER as u64 + u64::from(len);
                total += 1;
            }
        }
        total
    }

    /// Moves the read position (past a batch sent and not yet acknowledged, or back
    /// to the last acknowledged one to send again), without delivering anything.
    pub fn seek(&mut self, pos: Position) {
        self.pos = pos;
    }
}

enum Step {
    Record(Vec<u8>, Position),
    /// Nothing usable here: go on at this position.
    Skip(Position),
    /// Nothing more yet.
    Wait,
}

fn read_record(spool: &Spool, open: &mut Option<OpenSegment>, pos: Position, limit: Option<u64>) -> Step {
    let next_segment = |spool: &Spool| {
        let segs = lock(&spool.segments);
        segs.list
            .iter()
            .find(|(n, _)| *n > pos.segment)
            .map(|(n, _)| Position { segment: *n, offset: 0 })
    };
    let active = limit.is_some();
    if limit == Some(pos.offset) {
        return Step::Wait;
    }
    if open.as_ref().is_none_or(|o| o.number != pos.segment) {
        *open = File::open(segment_path(&spool.dir, pos.segment))
            .ok()
            .map(|file| OpenSegment {
                number: pos.segment,
                file,
                buf: Vec::new(),
                start: 0,
            });
    }
    let Some(file) = open.as_mut() else {
        // Dropped (drop-oldest) or already collected: go on with the next segment.
        return next_segment(spool).map_or(Step::Wait, Step::Skip);
    };
    let mut header = [0u8; HEADER];
    if file.read_exact_at(&mut header, pos.offset, limit).is_err() {
        if active {
            return Step::Wait;
        }
        // End of a sealed segment (or a torn header at its end).
        let size = file.file.metadata().map(|m| m.len()).unwrap_or(0);
        if size > pos.offset {
            spool.stats.corrupt.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(segment = pos.segment, offset = pos.offset, "torn spool record skipped");
        }
        return next_segment(spool).map_or(Step::Wait, Step::Skip);
    }
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let end = pos.offset + HEADER as u64 + u64::from(len);
    let corrupt = |spool: &Spool, why: &str| {
        spool.stats.corrupt.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            segment = pos.segment,
            offset = pos.offset,
            why,
            "corrupt spool record skipped"
        );
    };
    if len > MAX_RECORD || limit.is_some_and(|l| end > l) {
        if active && len <= MAX_RECORD {
            return Step::Wait;
        }
        corrupt(spool, "bad length");
        return next_segment(spool).map_or(Step::Wait, Step::Skip);
    }
    let mut payload = vec![0u8; len as usize];
    if file
        .read_exact_at(&mut payload, pos.offset + HEADER as u64, limit)
        .is_err()
    {
        corrupt(spool, "truncated");
        return next_segment(spool).map_or(Step::Wait, Step::Skip);
    }
    let next = Position {
        segment: pos.segment,
        offset: end,
    };
    if crc32fast::hash(&payload) != crc {
        corrupt(spool, "checksum");
        return Step::Skip(next);
    }
    Step::Record(payload, next)
}

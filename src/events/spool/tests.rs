use super::reader::READ_CHUNK;
use super::*;

const WAIT: Duration = Duration::from_millis(10);

fn payloads(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("{{\"event\":{i}}}").into_bytes()).collect()
}

fn read_all(r: &mut Reader) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let b = r.read_available(1000, 1 << 20);
        if b.records.is_empty() {
            return out;
        }
        out.extend(b.records);
        r.ack(b.end);
    }
}

#[test]
fn records_come_back_in_order_for_every_reader() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), 1 << 30, OnSpoolFull::RefuseNewConnections).unwrap();
    let mut a = spool.reader("a");
    let mut b = spool.reader("b");
    for p in payloads(100) {
        spool.append(&p).unwrap();
    }
    assert_eq!(read_all(&mut a), payloads(100));
    assert_eq!(read_all(&mut b), payloads(100));
    assert_eq!(spool.stats.appended.load(Ordering::Relaxed), 100);
}

#[tokio::test]
async fn next_batch_waits_for_new_records_and_respects_limits() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), 1 << 30, OnSpoolFull::RefuseNewConnections).unwrap();
    let mut r = spool.reader("s");
    assert!(r.next_batch(10, 1 << 20, WAIT).await.records.is_empty());
    let writer = spool.clone();
    let t = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        for p in payloads(25) {
            writer.append(&p).unwrap();
        }
    });
    let b = r.next_batch(10, 1 << 20, Duration::from_secs(5)).await;
    t.await.unwrap();
    assert!(!b.records.is_empty() && b.records.len() <= 10);
    let b2 = r.read_available(1000, 30);
    assert!(!b2.records.is_empty(), "at least one record even over the byte budget");
}

#[test]
fn a_restart_resumes_at_the_saved_cursor_in_a_new_segment() {
    let dir = tempfile::tempdir().unwrap();
    {
        let spool = Spool::open(dir.path(), 1 << 30, OnSpoolFull::RefuseNewConnections).unwrap();
        let mut r = spool.reader("s");
        for p in payloads(10) {
            spool.append(&p).unwrap();
        }
        let b = r.read_available(4, 1 << 20);
        assert_eq!(b.records.len(), 4);
        r.ack(b.end);
        // The cursor file is written at most every CURSOR_SAVE while delivering, and
        // when idle; here, as when idle.
        r.save();
        // 6 undelivered; the process dies here.
    }
    let spool = Spool::open(dir.path(), 1 << 30, OnSpoolFull::RefuseNewConnections).unwrap();
    spool.append(b"after").unwrap();
    let mut r = spool.reader("s");
    let got = read_all(&mut r);
    let mut want = payloads(10)[4..].to_vec();
    want.push(b"after".to_vec());
    assert_eq!(got, want);
    // A new sink starts at the oldest record still on disk.
    let mut fresh = spool.reader("new");
    assert_eq!(read_all(&mut fresh).last().unwrap(), b"after");
}

#[test]
fn torn_and_corrupt_records_are_counted_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let seg;
    {
        let spool = Spool::open(dir.path(), 1 << 30, OnSpoolFull::RefuseNewConnections).unwrap();
        for p in payloads(3) {
            spool.append(&p).unwrap();
        }
        seg = segment_path(dir.path(), 1);
    }
    // Flip a payload byte of the second record, and tear the third in half.
    let mut bytes = fs::read(&seg).unwrap();
    let first = HEADER + payloads(1)[0].len();
    bytes[first + HEADER + 2] ^= 0xff;
    let keep = bytes.len() - 5;
    bytes.truncate(keep);
    fs::write(&seg, &bytes).unwrap();
    let spool = Spool::open(dir.path(), 1 << 30, OnSpoolFull::RefuseNewConnections).unwrap();
    spool.append(b"next").unwrap();
    let mut r = spool.reader("s");
    assert_eq!(read_all(&mut r), vec![payloads(1)[0].clone(), b"next".to_vec()]);
    assert_eq!(spool.stats.corrupt.load(Ordering::Relaxed), 2);
}

#[test]
fn delivered_segments_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), 64 * 1024, OnSpoolFull::RefuseNewConnections).unwrap();
    let mut r = spool.reader("s");
    let big = vec![b'x'; 1000];
    for _ in 0..40 {
        spool.append(&big).unwrap();
    }
    let before = fs::read_dir(dir.path()).unwrap().count();
    assert!(before >= 4, "several segments: {before}");
    assert_eq!(read_all(&mut r).len(), 40);
    let segs = fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "seg"))
        .count();
    assert!(segs <= 2, "{segs} segments left");
    assert!(spool.bytes() < 8 * 1024);
}

#[test]
fn full_spool_refuses_or_drops_oldest() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), 32 * 1024, OnSpoolFull::RefuseNewConnections).unwrap();
    let _r = spool.reader("down");
    let big = vec![b'x'; 1000];
    for _ in 0..40 {
        spool.append(&big).unwrap();
    }
    assert!(
        spool.is_full(),
        "nothing is lost: it grows past the limit and refuses new work"
    );
    assert_eq!(spool.stats.dropped.load(Ordering::Relaxed), 0);

    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), 32 * 1024, OnSpoolFull::DropOldest).unwrap();
    let mut r = spool.reader("down");
    for i in 0..100 {
        spool.append(format!("{i:04}{}", "x".repeat(996)).as_bytes()).unwrap();
    }
    assert!(spool.bytes() <= 32 * 1024 + 1008, "{}", spool.bytes());
    let dropped = spool.stats.dropped.load(Ordering::Relaxed);
    assert!(dropped > 0);
    let got = read_all(&mut r);
    assert_eq!(got.len() as u64 + dropped, 100);
    assert_eq!(&got.last().unwrap()[..4], b"0099", "the newest are kept");
}

#[test]
fn a_crash_before_the_cursor_is_saved_means_duplicates_not_losses() {
    let dir = tempfile::tempdir().unwrap();
    {
        let spool = Spool::open(dir.path(), 1 << 30, OnSpoolFull::RefuseNewConnections).unwrap();
        let mut r = spool.reader("s");
        for p in payloads(5) {
            spool.append(&p).unwrap();
        }
        let b = r.read_available(3, 1 << 20);
        r.ack(b.end);
        // Dies within CURSOR_SAVE of the ack: the cursor file is behind.
    }
    let spool = Spool::open(dir.path(), 1 << 30, OnSpoolFull::RefuseNewConnections).unwrap();
    let mut r = spool.reader("s");
    assert_eq!(read_all(&mut r), payloads(5), "everything again: at least once");
}

#[test]
fn chunked_reads_return_every_record_whole_across_chunk_edges() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), 1 << 30, OnSpoolFull::RefuseNewConnections).unwrap();
    let mut r = spool.reader("s");
    // Sizes around and beyond the read chunk, so records straddle chunk edges and
    // some are larger than a whole chunk.
    let sizes = [10, READ_CHUNK - 20, 30, READ_CHUNK + 5, 7, 2 * READ_CHUNK, 1, 4000];
    let records: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, n)| vec![b'a' + i as u8; *n])
        .collect();
    let mut got = Vec::new();
    for rec in &records {
        spool.append(rec).unwrap();
        // Read after each append: the buffer must never hold bytes past the committed end.
        got.extend(read_all(&mut r));
    }
    assert_eq!(got, records);
}

#[test]
fn a_reader_keeps_up_with_a_concurrent_writer() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), 1 << 30, OnSpoolFull::RefuseNewConnections).unwrap();
    let mut r = spool.reader("s");
    let writer = spool.clone();
    let t = std::thread::spawn(move || {
        for p in payloads(20_000) {
            writer.append(&p).unwrap();
        }
    });
    let mut got = Vec::new();
    for _ in 0..1_000_000 {
        got.extend(read_all(&mut r));
        if got.len() == 20_000 {
            break;
        }
    }
    t.join().unwrap();
    got.extend(read_all(&mut r));
    assert_eq!(got, payloads(20_000));
    assert_eq!(spool.stats.corrupt.load(Ordering::Relaxed), 0);
}

/// SPEC §8: the tail of `spool_max_bytes` (1 MiB or 1 %) is kept for the events of the
/// refusals a full spool causes; past it they are counted as dropped.
#[test]
fn refusal_events_go_into_the_reserve_then_count_as_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let max = 200 * 1024;
    let spool = Spool::open(dir.path(), max, OnSpoolFull::RefuseNewConnections).unwrap();
    let mut r = spool.reader("down");
    let big = vec![b'x'; 500];
    while !spool.is_full() {
        spool.append(&big).unwrap();
    }
    let full_at = spool.bytes();
    assert!(
        full_at + max / 100 >= max && full_at < max,
        "full {} below the limit",
        max - full_at
    );
    let mut kept = 0;
    while spool.append_refusal(&big).unwrap() {
        kept += 1;
    }
    assert!(kept >= 3, "the 2 KiB reserve holds {kept} refusals of 508 bytes");
    assert!(spool.bytes() <= max);
    assert_eq!(spool.stats.dropped.load(Ordering::Relaxed), 1);
    assert!(!spool.append_refusal(&big).unwrap());
    assert_eq!(spool.stats.dropped.load(Ordering::Relaxed), 2);
    // Admitted traffic is still written, past the limit: its event describes traffic
    // that already passed.
    spool.append(&big).unwrap();
    assert!(spool.bytes() > max);
    let got = read_all(&mut r);
    assert_eq!(got.len() as u64, spool.stats.appended.load(Ordering::Relaxed));
}

/// A write that fails (here into `/dev/full`, which answers ENOSPC) leaves the spool
/// counting as full; the next write that works clears it, and readers never see a
/// torn record.
#[test]
fn a_failed_write_counts_as_full_until_a_write_works() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), 1 << 30, OnSpoolFull::RefuseNewConnections).unwrap();
    let mut r = spool.reader("s");
    spool.append(b"one").unwrap();
    let real = {
        let mut a = lock(&spool.active);
        let full = OpenOptions::new().write(true).open("/dev/full").unwrap();
        std::mem::replace(&mut a.file, full)
    };
    let err = spool.append(b"two").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(28), "ENOSPC: {err}");
    assert!(spool.is_full() && spool.refuses_new());
    assert_eq!(spool.end().offset, 11, "the failed record is not committed");
    lock(&spool.active).file = real;
    spool.append(b"three").unwrap();
    assert!(!spool.is_full());
    assert_eq!(read_all(&mut r), vec![b"one".to_vec(), b"three".to_vec()]);
    assert_eq!(spool.stats.corrupt.load(Ordering::Relaxed), 0);
}

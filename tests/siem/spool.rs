//! A full spool: `refuse-new-connections` answers 503 and lets nothing unaudited pass;
//! `drop-oldest` keeps serving, drops and counts the oldest events.

use std::time::Duration;

use crate::collector::*;
use crate::support::*;

/// A syslog sink whose collector refuses connections: every event stays in the spool.
fn dead_sink(dead: &DeadPort) -> String {
    format!(
        "[[log.sink]]\nname = \"down\"\ntype = \"syslog\"\naddress = \"127.0.0.1:{}\"\n",
        dead.port
    )
}

/// Each 503 of a full spool is on record (SPEC §8): its event goes into the reserve
/// kept for them, and once that is used up the rest are counted as dropped.
#[tokio::test]
async fn refuse_new_connections_answers_503_when_full_and_records_each_refusal() {
    let dead = DeadPort::new();
    let proxy = Proxy::start(Opts {
        sinks: dead_sink(&dead),
        log: "spool_max_bytes = 262144\non_spool_full = \"refuse-new-connections\"".into(),
        ..Opts::default()
    })
    .await;
    let request = "CONNECT origin.test:443 HTTP/1.1\r\nHost: origin.test:443\r\n\r\n";
    let mut refused = Vec::new();
    for _ in 0..3000 {
        let resp = raw(proxy.addr, request).await;
        if resp.status == 503 {
            refused.push(resp);
            break;
        }
        assert_eq!(resp.status, 407);
    }
    assert!(
        !refused.is_empty(),
        "the spool filled up and new connections were refused"
    );
    for _ in 0..20 {
        let resp = raw(proxy.addr, request).await;
        assert_eq!(resp.status, 503, "still refusing, and still alive");
        refused.push(resp);
    }
    let first = refused[0].event_id();
    assert_eq!(
        refused[0].header("proxy-status").unwrap(),
        format!("slagboom; error=proxy_internal_error; details=\"{first}\"")
    );
    // The file sink delivers: every refusal is there or counted as dropped.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let (on_record, dropped) = loop {
        let ids: std::collections::HashSet<String> = proxy
            .events()
            .await
            .iter()
            .filter(|e| e["event"]["reason"] == "spool_full")
            .map(|e| e["event"]["id"].as_str().unwrap().to_owned())
            .collect();
        let on_record = refused.iter().filter(|r| ids.contains(&r.event_id())).count();
        let m = proxy.metrics.encode();
        let dropped: usize = m
            .lines()
            .find_map(|l| l.strip_prefix("slagboom_events_dropped_total "))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if on_record + dropped >= refused.len() || tokio::time::Instant::now() >= deadline {
            break (on_record, dropped);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        on_record + dropped,
        refused.len(),
        "{on_record} on record, {dropped} dropped"
    );
    assert!(on_record >= 3, "the reserve (1 % of 256 KiB) held {on_record} refusals");
    let e = proxy.event(&first).await;
    assert_eq!(e["event"]["action"], "refused");
}

#[tokio::test]
async fn drop_oldest_keeps_serving_and_counts_what_it_dropped() {
    let dead = DeadPort::new();
    let proxy = Proxy::start(Opts {
        sinks: dead_sink(&dead),
        log: "spool_max_bytes = 32768\non_spool_full = \"drop-oldest\"".into(),
        ..Opts::default()
    })
    .await;
    make_events(proxy.addr, 150).await;
    let m = proxy.metrics.encode();
    let dropped: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("slagboom_events_dropped_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    assert!(dropped > 0, "{m}");
    let bytes: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("slagboom_spool_bytes "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(bytes <= 32768 + 4096 + 2048, "{bytes}");
    // Every event either reached the file sink (which is up) or was counted as dropped.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(proxy.events().await.len() as u64 + dropped >= 150);
}

#[tokio::test]
async fn queued_events_are_counted_until_delivered() {
    let dead = DeadPort::new();
    let proxy = Proxy::start(Opts {
        sinks: dead_sink(&dead),
        ..Opts::default()
    })
    .await;
    make_events(proxy.addr, 7).await;
    let m = proxy.metrics.encode();
    assert!(
        m.contains("slagboom_events_queued 7"),
        "the down sink still owes 7: {m}"
    );
}

/// A spool found damaged at start (SPEC §8): a segment with a torn tail, one with a
/// bad checksum, one of garbage, stray files and a directory, a file named like a
/// segment beyond any number the proxy makes, and a sink cursor past the end. The proxy
/// starts (twice: no crash loop), delivers every whole record and every new event,
/// skips the rest with a count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_spool_is_read_around_and_counted() {
    fn record(payload: &[u8]) -> Vec<u8> {
        let mut r = (payload.len() as u32).to_le_bytes().to_vec();
        r.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        r.extend_from_slice(payload);
        r
    }
    let mut old = slagboom::events::Event::new(slagboom::events::Action::Blocked, "192.0.2.1:1000".parse().unwrap());
    old.id = "old-whole-record".into();
    old.observer = "test-proxy".into();
    let whole = record(&slagboom::events::Record::from_event(&old).to_bytes());
    let mut torn = whole.clone();
    torn.extend_from_slice(&whole[..whole.len() / 2]);
    let mut bad_crc = whole.clone();
    let last = bad_crc.len() - 2;
    bad_crc[last] ^= 0xff;
    let seg = |n: u64| format!("spool/{n:020}.seg");
    let files = vec![
        (seg(1), torn),
        (seg(2), bad_crc),
        (seg(3), b"\x07\x00\x00\x00garbage garbage garbage".to_vec()),
        ("spool/notes.txt".into(), b"left here by someone".to_vec()),
        ("spool/junk/inner.seg".into(), b"x".to_vec()),
        ("spool/18446744073709551615.seg".into(), whole.clone()),
        ("spool/file-1.cursor".into(), b"99999 0\n".to_vec()),
    ];
    let opts = Opts {
        files,
        ..Opts::default()
    };
    let mut run = Running::start(opts);
    let ids = |run: &Running| -> Vec<String> {
        run.events()
            .iter()
            .map(|e| e["event"]["id"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let wait_for = |run: &Running, want: Vec<String>| {
        let deadline = std::time::Instant::now() + DEADLINE;
        loop {
            let got = ids(run);
            if want.iter().all(|id| got.contains(id)) {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "delivered: {got:?}");
            #[allow(clippy::disallowed_methods)] // inside block_in_place
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let mut want = make_events(run.addr, 20).await;
    want.push("old-whole-record".into());
    tokio::task::block_in_place(|| wait_for(&run, want.clone()));
    let metrics = reqwest_metrics(run.admin).await;
    let corrupt: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("slagboom_spool_corrupt_records_total "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(
        corrupt >= 2,
        "the torn tail, the bad checksum and the garbage are counted: {metrics}"
    );
    // Started again on what is left: no crash loop, delivery goes on.
    run.restart();
    want.extend(make_events(run.addr, 20).await);
    tokio::task::block_in_place(|| wait_for(&run, want.clone()));
}

async fn reqwest_metrics(admin: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(admin).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

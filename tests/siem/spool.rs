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

#[tokio::test]
async fn refuse_new_connections_answers_503_when_full() {
    let dead = DeadPort::new();
    let proxy = Proxy::start(Opts {
        sinks: dead_sink(&dead),
        log: "spool_max_bytes = 32768\non_spool_full = \"refuse-new-connections\"".into(),
        ..Opts::default()
    })
    .await;
    let mut refused = None;
    for _ in 0..200 {
        let mut s = connect(proxy.addr).await;
        tokio::io::AsyncWriteExt::write_all(
            &mut s,
            b"CONNECT origin.test:443 HTTP/1.1\r\nHost: origin.test:443\r\n\r\n",
        )
        .await
        .unwrap();
        let resp = read_response(&mut s, false).await;
        if resp.status == 503 {
            refused = Some(resp);
            break;
        }
        assert_eq!(resp.status, 407);
    }
    let resp = refused.expect("the spool filled up and new connections were refused");
    let id = resp.event_id();
    assert_eq!(
        resp.header("proxy-status").unwrap(),
        format!("slagboom; error=proxy_internal_error; details=\"{id}\"")
    );
    // Still refusing, and still alive.
    let again = raw(
        proxy.addr,
        "CONNECT origin.test:443 HTTP/1.1\r\nHost: origin.test:443\r\n\r\n",
    )
    .await;
    assert_eq!(again.status, 503);
    let m = proxy.metrics.encode();
    assert!(m.contains("slagboom_spool_bytes"), "{m}");
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

//! RELP against a real rsyslog `imrelp`: every event answered, and no gap when either
//! side is killed with `-9` mid-stream (duplicates are allowed).

use std::collections::HashSet;
use std::time::Duration;

use crate::collector::*;
use crate::support::*;

fn relp_sink(port: u16) -> String {
    format!(
        "[[log.sink]]\nname = \"relp\"\ntype = \"syslog\"\nformat = \"rfc5424\"\naddress = \"127.0.0.1:{port}\"\ntransport = \"relp\"\n"
    )
}

fn delivered(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("slagboom_events_delivered_total{sink=\"relp\"} "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsyslog_answers_every_event_over_relp() {
    let dir = tempfile::tempdir().unwrap();
    let rsyslog = Rsyslog::relp(dir.path(), free_port());
    let proxy = Proxy::start(Opts {
        sinks: relp_sink(rsyslog.port),
        ..Opts::default()
    })
    .await;
    // More than one window (128) of unanswered events.
    let ids = make_events(proxy.addr, 400).await;
    let msgs = rsyslog.wait_for(&ids, Duration::from_secs(30)).await;
    assert!(msgs.len() >= 400);
    assert!(msgs[0].starts_with('<'), "an RFC 5424 message: {}", msgs[0]);
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while delivered(&proxy.metrics.encode()) < 400 {
        assert!(tokio::time::Instant::now() < deadline, "{}", proxy.metrics.encode());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(delivered(&proxy.metrics.encode()), 400, "counted once each");
    assert_eq!(rsyslog.messages().len(), 400, "no duplicates without a fault");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_of_rsyslog_mid_stream_leaves_no_gap() {
    let dir = tempfile::tempdir().unwrap();
    let mut rsyslog = Rsyslog::relp(dir.path(), free_port());
    let proxy = Proxy::start(Opts {
        sinks: relp_sink(rsyslog.port),
        log: "sink_stall_timeout = \"2s\"".into(),
        ..Opts::default()
    })
    .await;
    let addr = proxy.addr;
    let making = tokio::spawn(async move { make_events(addr, 2000).await });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while rsyslog.messages().len() < 300 {
        assert!(tokio::time::Instant::now() < deadline, "rsyslog received nothing");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    rsyslog.kill_9();
    tokio::time::sleep(Duration::from_millis(300)).await;
    tokio::task::block_in_place(|| rsyslog.restart());
    let seen = making.await.unwrap();
    let mut want: HashSet<String> = seen.into_iter().collect();
    for e in proxy.events().await {
        want.insert(e["event"]["id"].as_str().unwrap().to_owned());
    }
    let want: Vec<String> = want.into_iter().collect();
    let msgs = rsyslog.wait_for(&want, Duration::from_secs(60)).await;
    assert!(msgs.len() >= want.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_of_the_proxy_mid_stream_leaves_no_gap() {
    let dir = tempfile::tempdir().unwrap();
    let rsyslog = Rsyslog::relp(dir.path(), free_port());
    let mut proxy = Running::start(Opts {
        sinks: relp_sink(rsyslog.port),
        ..Opts::default()
    });
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.extend(make_events(proxy.addr, 300).await);
        // Killed while its sink is still sending.
        tokio::task::block_in_place(|| proxy.restart());
    }
    seen.extend(make_events(proxy.addr, 10).await);
    let mut want: HashSet<String> = seen.into_iter().collect();
    for e in proxy.events() {
        want.insert(e["event"]["id"].as_str().unwrap().to_owned());
    }
    let want: Vec<String> = want.into_iter().collect();
    let msgs = rsyslog.wait_for(&want, Duration::from_secs(60)).await;
    assert!(msgs.len() >= want.len());
}

//! At-least-once delivery under collector faults (SPEC §8): a collector that stalls,
//! one that resets mid-stream again and again. A gap checker compares every id a
//! client saw, and every id the file sink wrote, with what the collector received:
//! duplicates are allowed, gaps are not.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use crate::collector::*;
use crate::scripted::{Behaviour, ScriptedCollector};
use crate::support::*;

fn syslog_sink(addr: SocketAddr) -> String {
    format!("[[log.sink]]\nname = \"siem\"\ntype = \"syslog\"\nformat = \"ecs\"\naddress = \"{addr}\"\ntransport = \"tcp\"\n")
}

/// Every id the clients saw and the file sink wrote.
async fn recorded(proxy: &Proxy, seen: &[String]) -> Vec<String> {
    let mut all: BTreeSet<String> = seen.iter().cloned().collect();
    for e in proxy.events().await {
        all.insert(e["event"]["id"].as_str().unwrap().to_owned());
    }
    all.into_iter().collect()
}

fn sink_errors(proxy: &Proxy) -> u64 {
    let text = proxy.metrics.encode();
    text.lines()
        .find_map(|l| l.strip_prefix("slagboom_sink_errors_total{sink=\"siem\"} "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn no_gaps(collector: &ScriptedCollector, ids: &[String]) {
    let missing = collector.missing_after(ids, Duration::from_secs(40)).await;
    assert!(
        missing.is_empty(),
        "{} of {} ids never reached the collector (first: {:?})",
        missing.len(),
        ids.len(),
        missing.first()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_collector_is_replaced_and_nothing_is_lost() {
    let collector = ScriptedCollector::start(vec![Behaviour::Stall(Duration::from_secs(4))]).await;
    let proxy = Proxy::start(Opts {
        sinks: syslog_sink(collector.addr),
        log: "sink_stall_timeout = \"1s\"".into(),
        ..Opts::default()
    })
    .await;
    let seen = make_events(proxy.addr, 1500).await;
    let ids = recorded(&proxy, &seen).await;
    no_gaps(&collector, &ids).await;
    assert!(sink_errors(&proxy) >= 1, "the stall was noticed and counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_resets_mid_stream_loses_nothing() {
    let script = (0..14)
        .map(|i| Behaviour::ResetAfter(20_000 + 7_919 * i))
        .collect::<Vec<_>>();
    let collector = ScriptedCollector::start(script).await;
    let proxy = Proxy::start(Opts {
        sinks: syslog_sink(collector.addr),
        log: "sink_stall_timeout = \"2s\"".into(),
        ..Opts::default()
    })
    .await;
    let mut seen = Vec::new();
    for _ in 0..6 {
        seen.extend(make_events(proxy.addr, 500).await);
    }
    let ids = recorded(&proxy, &seen).await;
    no_gaps(&collector, &ids).await;
    assert!(
        sink_errors(&proxy) >= 14,
        "every reset was noticed: {}",
        sink_errors(&proxy)
    );
}

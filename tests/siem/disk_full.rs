//! A full disk (SPEC §8): the spool lives on a tmpfs of a few hundred KiB that the test
//! mounts in a mount namespace of its own, and the collector is down, so the spool
//! fills the disk. New connections are then refused (503) and served promptly; a
//! failed write leaves no torn bytes; when space returns, the proxy recovers by itself,
//! every event it recorded is delivered, nothing is counted corrupt, and a restart on
//! the same spool goes on where it stopped.

use std::time::Duration;

use crate::collector::*;
use crate::scripted::ScriptedCollector;
use crate::support::*;

const CONNECT: &str = "CONNECT origin.test:443 HTTP/1.1\r\nHost: origin.test:443\r\n\r\n";

fn counter(proxy: &Proxy, name: &str) -> usize {
    proxy
        .metrics
        .encode()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_new_connections_then_recovers_without_loss() {
    if ran_in_own_mountns("disk_full::a_full_disk_refuses_new_connections_then_recovers_without_loss").await {
        return;
    }
    let small = tempfile::tempdir().unwrap();
    let mount = small.path().to_str().unwrap().to_owned();
    netns_cmd(&["mount", "-t", "tmpfs", "-o", "size=320k", "slagboom-spool", &mount]);
    let port = free_port();
    let opts = Opts {
        sinks: format!(
            "[[log.sink]]\nname = \"siem\"\ntype = \"syslog\"\nformat = \"ecs\"\naddress = \"127.0.0.1:{port}\"\n"
        ),
        spool_dir: format!("{mount}/spool"),
        ..Opts::default()
    };
    let proxy = Proxy::start(opts.clone()).await;

    // Fill the disk: 407s (each an event) until the spool cannot write any more.
    let mut seen = Vec::new();
    let mut refused = Vec::new();
    for _ in 0..5000 {
        let resp = raw(proxy.addr, CONNECT).await;
        match resp.status {
            407 => seen.push(resp.event_id()),
            503 => {
                refused.push(resp.event_id());
                if refused.len() == 10 {
                    break;
                }
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(refused.len(), 10, "a full disk turns new connections away");
    assert!(
        counter(&proxy, "slagboom_events_dropped_total") > 0,
        "what could not be written is counted"
    );

    // Space returns: the proxy recovers without being told.
    netns_cmd(&["mount", "-o", "remount,size=8m", &mount]);
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let resp = raw(proxy.addr, CONNECT).await;
        if resp.status == 407 {
            seen.push(resp.event_id());
            break;
        }
        refused.push(resp.event_id());
        assert!(tokio::time::Instant::now() < deadline, "never recovered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    seen.extend(make_events(proxy.addr, 20).await);
    let collector = ScriptedCollector::start_on(port, Vec::new()).await;

    // Every event after space returned is delivered; every earlier id is at the
    // collector too, or was counted as dropped when the disk was full.
    let recent = &seen[seen.len() - 21..];
    assert!(collector
        .missing_after(recent, Duration::from_secs(30))
        .await
        .is_empty());
    let all: Vec<String> = seen.iter().chain(&refused).cloned().collect();
    let missing = collector.missing_after(&all, Duration::from_secs(1)).await;
    let dropped = counter(&proxy, "slagboom_events_dropped_total");
    assert!(
        missing.len() <= dropped,
        "{} ids missing, only {dropped} counted as dropped",
        missing.len()
    );
    assert_eq!(counter(&proxy, "slagboom_spool_corrupt_records_total"), 0);
    proxy.stop().await;

    // A restart on the same spool carries on.
    let proxy = Proxy::start(opts).await;
    let later = make_events(proxy.addr, 20).await;
    assert!(collector
        .missing_after(&later, Duration::from_secs(30))
        .await
        .is_empty());
    assert_eq!(counter(&proxy, "slagboom_spool_corrupt_records_total"), 0);
    proxy.stop().await;
    // The tmpfs goes with the mount namespace when this process ends.
}

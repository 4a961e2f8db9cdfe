//! Shutdown with work in flight (SPEC §3, §8): SIGTERM while tunnels are open and
//! events are queued for a sink that is down. The tunnels' events are written when they
//! close, the process exits 0, and a restart delivers every event once the sink is up.

use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::scripted::ScriptedCollector;
use crate::support::*;

/// SIGTERM with tunnels open and events still queued for a sink that is down: the
/// tunnels' events are written at close, and a restart delivers everything once the
/// sink is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_open_tunnels_and_a_queue_loses_nothing() {
    let pki = Pki::new(&["origin.test"]);
    let origin = TlsOrigin::start(&pki).await;
    let collector_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut run = Running::start(Opts {
        connect_ports: vec![origin.addr.port()],
        limits: "shutdown_grace = \"1s\"".into(),
        sinks: format!(
            "[[log.sink]]\nname = \"siem\"\ntype = \"syslog\"\nformat = \"ecs\"\naddress = \"127.0.0.1:{collector_port}\"\ntransport = \"tcp\"\n"
        ),
        ..Opts::default()
    });
    let target = format!("origin.test:{}", origin.addr.port());
    let mut tunnels = Vec::new();
    for _ in 0..5 {
        let (s, resp) = connect_tunnel(run.addr, &target, Some(("fed-cov", "tok-cov"))).await;
        assert_eq!(resp.status, 200);
        let mut tls = tls_over(s, &pki, "origin.test").await.unwrap();
        tls.write_all(b"GET / HTTP/1.1\r\nHost: origin.test\r\n\r\n")
            .await
            .unwrap();
        tunnels.push(tls);
    }
    let mut ids = Vec::new();
    for _ in 0..20 {
        let (_s, resp) = connect_tunnel(run.addr, "www.tiktok.com:443", Some(("fed-cov", "tok-cov"))).await;
        ids.push(resp.event_id());
    }
    run.signal("-TERM");
    let code = tokio::task::block_in_place(|| run.wait_exit(Duration::from_secs(10)));
    assert_eq!(code, Some(0), "drained and exited 0");
    drop(tunnels);
    let tunnel_events = run
        .events()
        .iter()
        .filter(|e| e["event"]["action"] == "allowed" && e["destination"]["domain"] == "origin.test")
        .count();
    assert_eq!(tunnel_events, 5, "every open tunnel's event written at close");
    // The collector comes up, the proxy restarts: the queue drains, nothing is lost.
    let collector = ScriptedCollector::start_on(collector_port, Vec::new()).await;
    run.restart();
    let all: Vec<String> = run
        .events()
        .iter()
        .map(|e| e["event"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        ids.iter().all(|id| all.contains(id)),
        "every refusal the clients saw was spooled"
    );
    let missing = collector.missing_after(&all, DEADLINE * 3).await;
    assert!(missing.is_empty(), "{} of {} never delivered", missing.len(), all.len());
}

//! Resources under abuse (SPEC §9): a slow reader of a block page, a flood past
//! `max_connections`, idle and half-closed tunnels, and thousands of failed upstream
//! connections (refused, or a black hole past `connect_timeout`) without a leaked file
//! descriptor.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::harness::Bench;
use crate::support::*;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_of_a_block_page_holds_nobody_else_up() {
    let bench = Bench::start().await;
    let mut slow = connect(bench.proxy.addr).await;
    let request = bench.fill("GET http://www.tiktok.com/ HTTP/1.1\r\nHost: www.tiktok.com\r\n{auth}\r\n");
    slow.write_all(request.as_bytes()).await.unwrap();
    // It reads nothing for a while; others are served meanwhile.
    for _ in 0..20 {
        bench.still_serves("beside a slow reader").await;
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let resp = read_response(&mut slow, false).await;
    assert_eq!(resp.status, 403);
    assert!(resp.text().contains(&resp.event_id()), "the whole page arrived");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_past_max_connections_gets_503_and_the_proxy_recovers() {
    let proxy = Proxy::start(Opts {
        limits: "max_connections = 10\nheader_timeout = \"5s\"\n".into(),
        ..Opts::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..10 {
        held.push(connect(proxy.addr).await);
    }
    // Accepted in order: give the proxy a moment to take every slot.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut refused = Vec::new();
    for _ in 0..5 {
        let mut s = connect(proxy.addr).await;
        let resp = read_response(&mut s, false).await;
        assert_eq!(resp.status, 503);
        assert_eq!(
            resp.header("proxy-status").unwrap(),
            format!(
                "slagboom; error=connection_limit_reached; details=\"{}\"",
                resp.event_id()
            )
        );
        refused.push(resp.event_id());
    }
    for id in &refused {
        let e = proxy.event(id).await;
        assert_eq!(e["event"]["action"], "refused");
        assert_eq!(e["event"]["reason"], "connection_limit");
    }
    drop(held);
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let resp = raw(proxy.addr, &get("http://origin.test/", "origin.test", None, "")).await;
        if resp.status == 407 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never recovered: {}",
            resp.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_half_closed_tunnels_end_with_their_event() {
    let pki = Pki::new(&["www.example.org"]);
    let silent = SilentOrigin::start().await;
    let proxy = Proxy::start(Opts {
        limits: "idle_timeout = \"1s\"\n".into(),
        connect_ports: vec![silent.addr.port()],
        names: vec!["www.example.org".into()],
        ..Opts::default()
    })
    .await;
    let target = format!("www.example.org:{}", silent.addr.port());
    let hello = client_hello_bytes(&pki, "www.example.org");

    // Idle: nothing moves after the hello; the proxy closes at idle_timeout.
    let (mut s, resp) = connect_tunnel(proxy.addr, &target, Some(("fed-cov", "tok-cov"))).await;
    assert_eq!(resp.status, 200);
    s.write_all(&hello).await.unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(DEADLINE, s.read(&mut buf))
        .await
        .expect("closed in time");
    assert!(matches!(n, Ok(0) | Err(_)));
    assert!(started.elapsed() >= Duration::from_millis(900));
    let (got, ended) = silent.connection(0).await;
    assert_eq!(got, hello);
    assert_ne!(ended, Ended::Open);
    let port = s.local_addr().unwrap().port();
    let e = proxy
        .event_where(|e| e["source"]["port"] == port && e["event"]["action"] == "allowed")
        .await;
    assert_eq!(e["source"]["bytes"], hello.len());
    assert!(e["event"]["duration"].as_u64().unwrap() >= 900_000_000);

    // Half-closed: the client is done sending; the origin sees a clean end of stream.
    let (mut s, resp) = connect_tunnel(proxy.addr, &target, Some(("fed-cov", "tok-cov"))).await;
    assert_eq!(resp.status, 200);
    s.write_all(&hello).await.unwrap();
    s.shutdown().await.unwrap();
    let (got, ended) = silent.connection(1).await;
    assert_eq!((got, ended), (hello.clone(), Ended::Closed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_failed_upstreams_leak_no_descriptor() {
    // A refused port, and a black hole: a listener whose accept queue is full, so
    // further handshakes are never answered and connect_timeout runs out.
    let refused_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let hole = tokio::net::TcpSocket::new_v4().unwrap();
    hole.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let hole = hole.listen(0).unwrap();
    let hole_addr = hole.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_millis(200), socket.connect(hole_addr)).await {
            fillers.push(s);
        }
    }
    let proxy = Proxy::start(Opts {
        limits: "connect_timeout = \"200ms\"\n".into(),
        connect_ports: vec![refused_port, hole_addr.port()],
        ..Opts::default()
    })
    .await;
    let ask = |port: u16| {
        let proxy_addr = proxy.addr;
        async move {
            let target = format!("origin.test:{port}");
            let url = format!("http://{target}/");
            let resp = raw(proxy_addr, &get(&url, &target, Some(("fed-priv", "tok-priv")), "")).await;
            resp.status
        }
    };
    // Warm up (the runtime's threads, the DNS cache), then count.
    assert_eq!(ask(refused_port).await, 502);
    let before = open_fds();
    for round in 0..40 {
        let mut all = tokio::task::JoinSet::new();
        for _ in 0..50 {
            all.spawn(ask(refused_port));
        }
        while let Some(status) = all.join_next().await {
            assert_eq!(status.unwrap(), 502, "round {round}");
        }
    }
    for _ in 0..4 {
        let mut all = tokio::task::JoinSet::new();
        for _ in 0..50 {
            all.spawn(ask(hole_addr.port()));
        }
        while let Some(status) = all.join_next().await {
            assert_eq!(status.unwrap(), 504);
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = open_fds();
    assert!(
        after <= before + 8,
        "descriptors: {before} before, {after} after 2,200 failures"
    );
    let events = proxy.events().await;
    let failed = |reason: &str| events.iter().filter(|e| e["event"]["reason"] == reason).count();
    assert!(failed("upstream_connect_failed") >= 2_000);
    assert_eq!(failed("upstream_timeout"), 200);
    drop(fillers);
}

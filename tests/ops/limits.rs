//! Every limit answers and the proxy keeps serving the next client.

use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::support::*;

const BLOCKED: &str = "CONNECT www.tiktok.com:443 HTTP/1.1\r\nHost: www.tiktok.com:443\r\n";

/// The proxy still answers a normal request.
async fn still_serving(addr: std::net::SocketAddr) {
    let req = format!("{BLOCKED}Proxy-Authorization: {}\r\n\r\n", basic("fed-cov", "tok-cov"));
    assert_eq!(raw(addr, &req).await.status, 403);
}

#[tokio::test]
async fn client_hello_bytes_limit_closes_and_serves_on() {
    let pki = Pki::new(&["origin.test"]);
    let origin = TlsOrigin::start(&pki).await;
    let port = origin.addr.port();
    let proxy = Proxy::start(Opts {
        connect_ports: vec![port],
        limits: "client_hello_bytes = 600".into(),
        ..Opts::default()
    })
    .await;
    let (mut s, resp) = connect_tunnel(proxy.addr, &format!("origin.test:{port}"), Some(("fed-cov", "tok-cov"))).await;
    assert_eq!(resp.status, 200);
    // A handshake record announcing 2000 bytes: over the limit as soon as it is known.
    let mut hello = vec![22, 3, 1, 0x07, 0xd4, 1, 0, 0x07, 0xd0];
    hello.extend(std::iter::repeat_n(0u8, 64));
    s.write_all(&hello).await.unwrap();
    let _ = read_to_close(&mut s).await;
    proxy
        .event_where(|e| e["event"]["reason"] == "client_hello_invalid")
        .await;
    assert_eq!(origin.connection_count(), 0);
    still_serving(proxy.addr).await;
}

#[tokio::test]
async fn max_connections_answers_503_and_recovers() {
    let proxy = Proxy::start(Opts {
        limits: "max_connections = 3".into(),
        ..Opts::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect(proxy.addr).await);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let resp = raw(proxy.addr, &format!("{BLOCKED}\r\n")).await;
    assert_eq!(resp.status, 503);
    assert!(resp
        .header("proxy-status")
        .unwrap()
        .contains("error=connection_limit_reached"));
    let e = proxy.event(&resp.event_id()).await;
    assert_eq!(
        (e["event"]["action"].as_str(), e["event"]["reason"].as_str()),
        (Some("refused"), Some("connection_limit"))
    );
    drop(held);
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let req = format!("{BLOCKED}Proxy-Authorization: {}\r\n\r\n", basic("fed-cov", "tok-cov"));
        if raw(proxy.addr, &req).await.status == 403 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_file_descriptors_backs_off_without_spinning() {
    let run = Running::start_with_nofile(Opts::default(), 96);
    // Take every descriptor the proxy has left.
    let mut held = Vec::new();
    for _ in 0..150 {
        match tokio::time::timeout(Duration::from_millis(500), tokio::net::TcpStream::connect(run.addr)).await {
            Ok(Ok(s)) => held.push(s),
            _ => break,
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = cpu_ticks(run.pid());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu_ticks(run.pid()) - before;
    // A spinning accept loop burns ~200 ticks in 2 s; backing off, next to nothing.
    assert!(used < 40, "accept spun: {used} ticks in 2 s");
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let req = format!("{BLOCKED}Proxy-Authorization: {}\r\n\r\n", basic("fed-cov", "tok-cov"));
        let mut s = connect(run.addr).await;
        s.write_all(req.as_bytes()).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(2), read_response(&mut s, false)).await;
        if matches!(got, Ok(ref r) if r.status == 403) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the proxy did not recover");
    }
}

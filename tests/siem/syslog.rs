//! Syslog sinks against a real rsyslog (TCP and TLS), UDP datagrams, and delivery
//! across a collector outage and a `kill -9` of the proxy.

use std::time::Duration;

use serde_json::Value;

use crate::collector::*;
use crate::support::*;

fn syslog_sink(port: u16, transport: &str, format: &str, extra: &str) -> String {
    format!(
        "[[log.sink]]\nname = \"siem\"\ntype = \"syslog\"\nformat = \"{format}\"\naddress = \"127.0.0.1:{port}\"\ntransport = \"{transport}\"\n{extra}\n"
    )
}

/// The ECS object inside an RFC 5424 message (`... MSGID - {json}`).
fn ecs_of(msg: &str) -> Value {
    let json = &msg[msg.find(" - {").expect("structured data `-` then JSON") + 3..];
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {msg}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsyslog_over_tcp_receives_every_event_with_octet_counting() {
    let dir = tempfile::tempdir().unwrap();
    let rsyslog = Rsyslog::tcp(dir.path(), free_port());
    let proxy = Proxy::start(Opts {
        sinks: syslog_sink(rsyslog.port, "tcp", "rfc5424", "facility = \"local3\""),
        ..Opts::default()
    })
    .await;
    let ids = make_events(proxy.addr, 40).await;
    let msgs = rsyslog.wait_for(&ids, DEADLINE).await;
    assert_eq!(msgs.len(), 40, "one message per event, none split or merged");
    for (msg, id) in msgs.iter().zip(&ids) {
        // local3 (19) * 8 + notice (5) for auth_failed.
        assert!(msg.starts_with("<157>1 "), "{msg}");
        assert!(msg.contains(" test-proxy slagboom "), "{msg}");
        assert!(msg.contains(" auth_failed - {"), "{msg}");
        let v = ecs_of(msg);
        assert_eq!(v["event"]["id"], id.as_str(), "in order");
        assert_eq!(v["event"]["reason"], "credentials_missing");
    }
    // Counted as delivered once rsyslog's TCP stack acknowledged the bytes; without a
    // fault nothing is sent twice.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !proxy
        .metrics
        .encode()
        .contains("slagboom_events_delivered_total{sink=\"siem\"} 40")
    {
        assert!(tokio::time::Instant::now() < deadline, "{}", proxy.metrics.encode());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rsyslog.messages().len(), 40, "no duplicates without a fault");
    assert!(proxy
        .metrics
        .encode()
        .contains("slagboom_events_delivered_total{sink=\"siem\"} 40"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsyslog_over_tls_receives_cef() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(&["127.0.0.1", "localhost"]);
    let rsyslog = Rsyslog::tls(dir.path(), free_port(), &pki);
    let ca = dir.path().join("ca.pem");
    let proxy = Proxy::start(Opts {
        sinks: syslog_sink(rsyslog.port, "tls", "cef", &format!("ca_file = \"{}\"", ca.display())),
        ..Opts::default()
    })
    .await;
    let ids = make_events(proxy.addr, 25).await;
    let msgs = rsyslog.wait_for(&ids, DEADLINE).await;
    assert_eq!(msgs.len(), 25);
    for msg in &msgs {
        assert!(msg.contains(" auth_failed - CEF:0|slagboom|slagboom|"), "{msg}");
        assert!(
            msg.contains("|auth_failed|auth_failed (credentials_missing)|5|"),
            "{msg}"
        );
        assert!(msg.contains(" act=auth_failed "), "{msg}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_ca_never_delivers_and_keeps_the_events() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(&["127.0.0.1"]);
    let other = Pki::new(&["127.0.0.1"]);
    let rsyslog = Rsyslog::tls(dir.path(), free_port(), &pki);
    let wrong = dir.path().join("other-ca.pem");
    std::fs::write(&wrong, &other.ca_pem).unwrap();
    let proxy = Proxy::start(Opts {
        sinks: syslog_sink(
            rsyslog.port,
            "tls",
            "rfc5424",
            &format!("ca_file = \"{}\"", wrong.display()),
        ),
        ..Opts::default()
    })
    .await;
    make_events(proxy.addr, 3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(rsyslog.messages().is_empty());
    let m = proxy.metrics.encode();
    assert!(m.contains("slagboom_sink_errors_total{sink=\"siem\"}"), "{m}");
    assert!(!m.contains("slagboom_events_delivered_total{sink=\"siem\"}"), "{m}");
}

#[tokio::test]
async fn udp_sends_one_datagram_per_event() {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = sock.local_addr().unwrap().port();
    let proxy = Proxy::start(Opts {
        sinks: syslog_sink(port, "udp", "rfc5424", ""),
        ..Opts::default()
    })
    .await;
    let ids = make_events(proxy.addr, 5).await;
    let mut buf = vec![0u8; 65536];
    for id in &ids {
        let n = tokio::time::timeout(DEADLINE, sock.recv(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let msg = std::str::from_utf8(&buf[..n]).unwrap();
        // local0 (16) * 8 + notice (5).
        assert!(msg.starts_with("<133>1 "), "{msg}");
        assert_eq!(ecs_of(msg)["event"]["id"], id.as_str());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_and_a_kill_9_lose_no_event() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut rsyslog = Rsyslog::tcp(dir.path(), port);
    let mut proxy = Running::start(Opts {
        sinks: syslog_sink(port, "tcp", "rfc5424", ""),
        ..Opts::default()
    });
    let mut ids = make_events(proxy.addr, 20).await;
    rsyslog.wait_for(&ids, DEADLINE).await;

    // The collector goes away; events keep coming and wait in the spool.
    rsyslog.stop();
    ids.extend(make_events(proxy.addr, 300).await);
    // The proxy dies without a chance to flush anything.
    let killed = std::process::Command::new("kill")
        .args(["-9", &proxy.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    tokio::task::block_in_place(|| proxy.wait_exit(DEADLINE));

    rsyslog.restart();
    proxy.restart();
    ids.extend(make_events(proxy.addr, 10).await);
    let msgs = rsyslog.wait_for(&ids, Duration::from_secs(30)).await;
    // At least once: duplicates are allowed, losses are not.
    assert!(msgs.len() >= ids.len());
    let got: std::collections::HashSet<String> = msgs
        .iter()
        .map(|m| ecs_of(m)["event"]["id"].as_str().unwrap().to_owned())
        .collect();
    for id in &ids {
        assert!(got.contains(id), "{id} lost");
    }
}

#[tokio::test]
async fn owners_are_pseudonymised_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("pseudonym.key");
    std::fs::write(&key, "k3y-bytes  \n").unwrap();
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = sock.local_addr().unwrap().port();
    let proxy = Proxy::start(Opts {
        privacy: format!("pseudonymise_owner = true\nkey_file = \"{}\"", key.display()),
        sinks: syslog_sink(port, "udp", "cef", ""),
        ..Opts::default()
    })
    .await;
    let resp = raw(
        proxy.addr,
        &format!(
            "CONNECT www.tiktok.com:443 HTTP/1.1\r\nHost: www.tiktok.com:443\r\nProxy-Authorization: {}\r\n\r\n",
            basic("fed-cov", "tok-cov")
        ),
    )
    .await;
    assert_eq!(resp.status, 403);
    // HMAC-SHA-256 of the owner, keyed with the key file minus trailing whitespace.
    let want = {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"k3y-bytes").unwrap();
        mac.update(b"owner-fed-cov");
        hex::encode(mac.finalize().into_bytes())
    };
    let e = proxy.event(&resp.event_id()).await;
    assert_eq!(e["user"]["id"], want.as_str());
    let mut buf = vec![0u8; 65536];
    let n = tokio::time::timeout(DEADLINE, sock.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let cef = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(cef.contains(&format!("suser={want} ")), "{cef}");
    assert!(!cef.contains("owner-fed-cov"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reopens_file_sinks_for_logrotate() {
    let proxy = Running::start(Opts::default());
    let events = proxy.dir.path().join("events.jsonl");
    let first = make_events(proxy.addr, 2).await;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while std::fs::read_to_string(&events).map(|t| t.lines().count()).unwrap_or(0) < 2 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // logrotate moves the file, then signals.
    let rotated = proxy.dir.path().join("events.jsonl.1");
    std::fs::rename(&events, &rotated).unwrap();
    proxy.signal("-HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = make_events(proxy.addr, 2).await;
    while std::fs::read_to_string(&events).map(|t| t.lines().count()).unwrap_or(0) < 2 {
        assert!(tokio::time::Instant::now() < deadline, "no new file after SIGHUP");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let old = std::fs::read_to_string(&rotated).unwrap();
    let new = std::fs::read_to_string(&events).unwrap();
    assert!(first.iter().all(|id| old.contains(id)) && second.iter().all(|id| new.contains(id)));
    assert!(second.iter().all(|id| !old.contains(id)));
}

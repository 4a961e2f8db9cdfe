//! Identification: tokens, source addresses, unknown devices, 407, 429, retired and
//! lost devices.

use tokio::io::AsyncWriteExt;

use crate::support::*;

fn connect_req(target: &str, auth: Option<&str>) -> String {
    let creds = auth
        .map(|a| format!("Proxy-Authorization: {a}\r\n"))
        .unwrap_or_default();
    format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{creds}\r\n")
}

#[tokio::test]
async fn missing_credentials_get_407_and_an_event() {
    let proxy = Proxy::start(Opts::default()).await;
    let resp = raw(proxy.addr, &connect_req("www.tiktok.com:443", None)).await;
    assert_eq!(resp.status, 407);
    assert_eq!(resp.header("proxy-authenticate"), Some("Basic realm=\"slagboom\""));
    let e = proxy.event(&resp.event_id()).await;
    assert_eq!(e["event"]["action"], "auth_failed");
    assert_eq!(e["event"]["reason"], "credentials_missing");
    assert_eq!(e["labels"]["coverage"], "unknown");
    assert_eq!(e["destination"]["domain"], "www.tiktok.com");
    assert!(e.get("device").is_none());
}

#[tokio::test]
async fn a_407_keeps_the_connection_for_the_retry() {
    let pki = Pki::new(&["origin.test"]);
    let origin = TlsOrigin::start(&pki).await;
    let port = origin.addr.port();
    let proxy = Proxy::start(Opts {
        connect_ports: vec![port],
        ..Opts::default()
    })
    .await;
    let mut s = connect(proxy.addr).await;
    let target = format!("origin.test:{port}");
    s.write_all(connect_req(&target, None).as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut s, false).await.status, 407);
    s.write_all(connect_req(&target, Some(&basic("fed-cov", "tok-cov"))).as_bytes())
        .await
        .unwrap();
    assert_eq!(read_response(&mut s, true).await.status, 200);
}

#[tokio::test]
async fn wrong_credentials_fail_at_once_and_are_rate_limited() {
    let proxy = Proxy::start(Opts {
        limits: "auth_failures_per_minute = 3".into(),
        ..Opts::default()
    })
    .await;
    // Missing credentials never count toward the limit.
    for _ in 0..5 {
        assert_eq!(raw(proxy.addr, &connect_req("origin.test:443", None)).await.status, 407);
    }
    let bad = [
        basic("fed-cov", "wrong"),
        basic("no-such-device", "tok-cov"),
        "Bearer tok-cov".to_owned(),
    ];
    for auth in &bad {
        let resp = raw(proxy.addr, &connect_req("origin.test:443", Some(auth))).await;
        assert_eq!(resp.status, 407, "{auth}");
        let e = proxy.event(&resp.event_id()).await;
        assert_eq!(e["event"]["reason"], "credentials_invalid");
    }
    let resp = raw(
        proxy.addr,
        &connect_req("origin.test:443", Some(&basic("fed-cov", "wrong"))),
    )
    .await;
    assert_eq!(resp.status, 429);
    let e = proxy.event(&resp.event_id()).await;
    assert_eq!(
        (e["event"]["action"].as_str(), e["event"]["reason"].as_str()),
        (Some("auth_failed"), Some("rate_limited"))
    );
    // Even the right token waits out the minute from this address; others are served.
    let resp = raw(
        proxy.addr,
        &connect_req("www.tiktok.com:443", Some(&basic("fed-cov", "tok-cov"))),
    )
    .await;
    assert_eq!(resp.status, 429);
    let mut other = connect_from(proxy.addr, "127.0.0.9").await;
    other
        .write_all(connect_req("www.tiktok.com:443", Some(&basic("fed-cov", "tok-cov"))).as_bytes())
        .await
        .unwrap();
    assert_eq!(read_response(&mut other, false).await.status, 403);
}

#[tokio::test]
async fn a_wrong_token_does_not_fall_through_to_the_source_address() {
    let proxy = Proxy::start(Opts::default()).await;
    let mut s = connect_from(proxy.addr, "127.0.0.3").await;
    s.write_all(connect_req("origin.test:443", Some(&basic("fed-cov", "nope"))).as_bytes())
        .await
        .unwrap();
    let resp = read_response(&mut s, false).await;
    assert_eq!(resp.status, 407);
    let e = proxy.event(&resp.event_id()).await;
    assert_eq!(e["labels"]["identity"], "token", "the method that failed");
    assert_eq!(e["labels"]["listener"], "explicit");
}

#[tokio::test]
async fn source_address_identifies_devices_without_credentials() {
    let proxy = Proxy::start(Opts::default()).await;
    let mut s = connect_from(proxy.addr, "127.0.0.3").await;
    s.write_all(connect_req("www.tiktok.com:443", None).as_bytes())
        .await
        .unwrap();
    let resp = read_response(&mut s, false).await;
    assert_eq!(resp.status, 403);
    let e = proxy.event(&resp.event_id()).await;
    assert_eq!(e["device"]["id"], "fed-ip");
    assert_eq!(e["source"]["ip"], "127.0.0.3");
    assert_eq!(e["labels"]["identity"], "source-ip");
    let mut s = connect_from(proxy.addr, "127.0.0.4").await;
    s.write_all(connect_req("nottiktok.com:443", None).as_bytes())
        .await
        .unwrap();
    assert_eq!(read_response(&mut s, true).await.status, 200);
}

#[tokio::test]
async fn retired_and_lost_devices_are_refused() {
    let proxy = Proxy::start(Opts::default()).await;
    for (dev, tok, reason) in [
        ("fed-ret", "tok-ret", "device_retired"),
        ("fed-lost", "tok-lost", "device_lost"),
    ] {
        let resp = raw(proxy.addr, &connect_req("origin.test:443", Some(&basic(dev, tok)))).await;
        assert_eq!(resp.status, 403);
        let e = proxy.event(&resp.event_id()).await;
        assert_eq!(e["event"]["action"], "refused");
        assert_eq!(e["event"]["reason"], reason);
        assert_eq!(e["device"]["id"], dev);
    }
}

#[tokio::test]
async fn unknown_devices_follow_unknown_device() {
    let covered = Proxy::start(Opts {
        unknown_device: "covered",
        ..Opts::default()
    })
    .await;
    let resp = raw(covered.addr, &connect_req("www.tiktok.com:443", None)).await;
    assert_eq!(resp.status, 403, "treated as covered by every authority");
    let e = covered.event(&resp.event_id()).await;
    assert_eq!(e["event"]["action"], "blocked");
    assert_eq!(e["labels"]["coverage"], "unknown");
    let allow = Proxy::start(Opts {
        unknown_device: "allow",
        ..Opts::default()
    })
    .await;
    let mut s = connect(allow.addr).await;
    s.write_all(connect_req("www.tiktok.com:443", None).as_bytes())
        .await
        .unwrap();
    assert_eq!(read_response(&mut s, true).await.status, 200);
}

#[tokio::test]
async fn event_ids_are_unique() {
    let proxy = Proxy::start(Opts::default()).await;
    let mut ids = std::collections::HashSet::new();
    for _ in 0..50 {
        let resp = raw(proxy.addr, &connect_req("origin.test:443", None)).await;
        assert!(ids.insert(resp.event_id()));
    }
    let events = proxy.events().await;
    assert_eq!(events.len(), 50);
    let logged: std::collections::HashSet<_> = events
        .iter()
        .map(|e| e["event"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(logged, ids);
}

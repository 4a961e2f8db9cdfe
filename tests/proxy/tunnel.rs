//! CONNECT tunnels: decisions on the CONNECT host and on the SNI, fronting, alerts,
//! ClientHello fragmentation, events at close.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

const NAMES: &[&str] = &[
    "origin.test",
    "www.tiktok.com",
    "nottiktok.com",
    "tiktok.com.example.org",
    "m.tiktok.com",
];

async fn setup() -> (Pki, TlsOrigin, Proxy) {
    let pki = Pki::new(NAMES);
    let origin = TlsOrigin::start(&pki).await;
    let proxy = Proxy::start(Opts {
        connect_ports: vec![origin.addr.port()],
        ..Opts::default()
    })
    .await;
    (pki, origin, proxy)
}

/// CONNECT, TLS with SNI, GET, read the answer.
async fn fetch(proxy: &Proxy, pki: &Pki, host: &str, port: u16, auth: (&str, &str)) -> String {
    let (s, resp) = connect_tunnel(proxy.addr, &format!("{host}:{port}"), Some(auth)).await;
    assert_eq!(resp.status, 200, "{resp:?}");
    let mut tls = tls_over(s, pki, host).await.expect("handshake through the tunnel");
    tls.write_all(format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let resp = read_response(&mut tls, false).await;
    resp.text()
}

#[tokio::test]
async fn covered_device_gets_403_before_any_upstream_connection() {
    let (_pki, origin, proxy) = setup().await;
    let port = origin.addr.port();
    let (_s, resp) = connect_tunnel(
        proxy.addr,
        &format!("www.tiktok.com:{port}"),
        Some(("fed-cov", "tok-cov")),
    )
    .await;
    assert_eq!(resp.status, 403);
    let id = resp.event_id();
    assert_eq!(
        resp.header("proxy-status").unwrap(),
        format!("slagboom; error=http_request_denied; details=\"{id}\"")
    );
    let e = proxy.event(&id).await;
    assert_eq!(e["event"]["action"], "blocked");
    assert_eq!(e["event"]["reason"], "policy");
    assert_eq!(e["event"]["type"], serde_json::json!(["connection", "denied"]));
    assert_eq!(e["destination"]["domain"], "www.tiktok.com");
    assert_eq!(e["destination"]["port"], port);
    assert_eq!(e["rule"]["ruleset"], "tiktok");
    assert_eq!(e["rule"]["id"], "tiktok.com");
    assert_eq!(e["rule"]["reference"], "fed");
    assert_eq!(e["rule"]["name"], "TikTok");
    assert_eq!(e["device"]["id"], "fed-cov");
    assert_eq!(e["organization"]["name"], "Org of fed-cov");
    assert_eq!(e["user"]["id"], "owner-fed-cov");
    assert_eq!(e["labels"]["coverage"], "covered");
    assert_eq!(origin.connection_count(), 0, "a blocked name is never connected to");
}

#[tokio::test]
async fn advisory_device_is_advised_and_the_tunnel_works() {
    let (pki, origin, proxy) = setup().await;
    let body = fetch(
        &proxy,
        &pki,
        "www.tiktok.com",
        origin.addr.port(),
        ("fed-adv", "tok-adv"),
    )
    .await;
    assert_eq!(body, "hello");
    let e = proxy.event_where(|e| e["device"]["id"] == "fed-adv").await;
    assert_eq!(e["event"]["action"], "advised");
    assert_eq!(e["event"]["outcome"], "success");
    assert_eq!(e["event"]["type"], serde_json::json!(["connection", "allowed"]));
    assert_eq!(e["tls"]["client"]["server_name"], "www.tiktok.com");
    assert_eq!(e["destination"]["ip"], "127.0.0.1");
    assert_eq!(e["rule"]["reference"], "fed");
    assert_eq!(e["labels"]["coverage"], "advisory");
    assert!(e["source"]["bytes"].as_u64().unwrap() > 100, "{e}");
    assert!(e["destination"]["bytes"].as_u64().unwrap() > 100, "{e}");
    assert!(e["event"]["duration"].as_u64().unwrap() > 0);
    assert!(e.get("url").is_none());
    assert_eq!(
        origin.snis.lock().unwrap().as_slice(),
        [Some("www.tiktok.com".to_owned())]
    );
}

#[tokio::test]
async fn private_and_other_authorities_are_allowed() {
    let (pki, origin, proxy) = setup().await;
    let port = origin.addr.port();
    for (dev, tok) in [
        ("fed-priv", "tok-priv"),
        ("fut-cov", "tok-fut"),
        ("past-cov", "tok-past"),
    ] {
        assert_eq!(
            fetch(&proxy, &pki, "www.tiktok.com", port, (dev, tok)).await,
            "hello",
            "{dev}"
        );
        let e = proxy.event_where(|e| e["device"]["id"] == dev).await;
        assert_eq!(e["event"]["action"], "allowed", "{dev}: {e}");
    }
    // A covered Flemish device is blocked by the Flemish policy.
    let (_s, resp) = connect_tunnel(proxy.addr, &format!("m.tiktok.com:{port}"), Some(("vl-cov", "tok-vl"))).await;
    assert_eq!(resp.status, 403);
    assert_eq!(proxy.event(&resp.event_id()).await["rule"]["reference"], "vl");
}

#[tokio::test]
async fn lookalikes_and_other_sites_pass() {
    let (pki, origin, proxy) = setup().await;
    let port = origin.addr.port();
    for host in ["nottiktok.com", "tiktok.com.example.org", "origin.test"] {
        assert_eq!(
            fetch(&proxy, &pki, host, port, ("fed-cov", "tok-cov")).await,
            "hello",
            "{host}"
        );
        let e = proxy.event_where(|e| e["destination"]["domain"] == host).await;
        assert_eq!(e["event"]["action"], "allowed");
        assert!(e.get("rule").is_none(), "{e}");
    }
}

#[tokio::test]
async fn normalisation_variants_are_blocked() {
    let (_pki, origin, proxy) = setup().await;
    let port = origin.addr.port();
    for target in [
        "WWW.TikTok.COM",
        "www.tiktok.com.",
        "www.xn--bcher-kva.example",
        "v16-pattern.test",
        "exact-only.test",
    ] {
        let (_s, resp) = connect_tunnel(proxy.addr, &format!("{target}:{port}"), Some(("fed-cov", "tok-cov"))).await;
        assert_eq!(resp.status, 403, "{target}");
        let e = proxy.event(&resp.event_id()).await;
        assert_eq!(e["event"]["action"], "blocked", "{target}");
    }
    // `exact` is that host only; an IP in a ruleset CIDR is blocked too.
    let (_s, resp) = connect_tunnel(
        proxy.addr,
        &format!("sub.exact-only.test:{port}"),
        Some(("fed-cov", "tok-cov")),
    )
    .await;
    assert_eq!(resp.status, 200);
    let (_s, resp) = connect_tunnel(proxy.addr, "192.0.2.7:443", Some(("fed-cov", "tok-cov"))).await;
    assert_eq!(resp.status, 403);
    let e = proxy.event(&resp.event_id()).await;
    assert_eq!(e["destination"]["ip"], "192.0.2.7");
    assert_eq!(e["rule"]["id"], "192.0.2.0/24");
    assert_eq!(origin.connection_count(), 0);
}

#[tokio::test]
async fn fronting_blocked_sni_under_allowed_host_gets_an_alert() {
    let (pki, origin, proxy) = setup().await;
    let port = origin.addr.port();
    let (s, resp) = connect_tunnel(proxy.addr, &format!("origin.test:{port}"), Some(("fed-cov", "tok-cov"))).await;
    assert_eq!(resp.status, 200);
    let err = tls_over(s, &pki, "www.tiktok.com")
        .await
        .expect_err("handshake must fail");
    assert!(err.to_string().contains("AccessDenied"), "{err}");
    let e = proxy.event_where(|e| e["event"]["reason"] == "domain_fronting").await;
    assert_eq!(e["event"]["action"], "blocked");
    assert_eq!(e["destination"]["domain"], "origin.test");
    assert_eq!(e["tls"]["client"]["server_name"], "www.tiktok.com");
    assert_eq!(e["rule"]["ruleset"], "tiktok");
    assert_eq!(origin.connection_count(), 0, "decided before any upstream connection");
}

#[tokio::test]
async fn fragmented_client_hello_is_reassembled_before_deciding() {
    let (pki, origin, proxy) = setup().await;
    let port = origin.addr.port();
    let hello = split_records(&client_hello_bytes(&pki, "www.tiktok.com"), 50);
    let (mut s, resp) = connect_tunnel(proxy.addr, &format!("origin.test:{port}"), Some(("fed-cov", "tok-cov"))).await;
    assert_eq!(resp.status, 200);
    for piece in hello.chunks(7) {
        s.write_all(piece).await.unwrap();
        s.flush().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    let answer = read_to_close(&mut s).await;
    assert_eq!(answer, [21, 3, 3, 0, 2, 2, 49], "an access_denied alert, then close");
    proxy.event_where(|e| e["event"]["reason"] == "domain_fronting").await;
    assert_eq!(origin.connection_count(), 0);
}

#[tokio::test]
async fn fragmented_allowed_hello_is_replayed_upstream() {
    let (pki, origin, proxy) = setup().await;
    let port = origin.addr.port();
    let (s, resp) = connect_tunnel(proxy.addr, &format!("origin.test:{port}"), Some(("fed-cov", "tok-cov"))).await;
    assert_eq!(resp.status, 200);
    // A TLS client whose writes reach the proxy a few bytes at a time.
    let (client, mut server) = tokio::io::duplex(64 * 1024);
    let mut s = s;
    let pump = tokio::spawn(async move {
        let (mut sr, mut sw) = s.split();
        let (mut pr, mut pw) = tokio::io::split(&mut server);
        let up = async {
            let mut buf = [0u8; 5];
            loop {
                let n = pr.read(&mut buf).await.unwrap_or(0);
                if n == 0 || sw.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
            let _ = sw.shutdown().await;
        };
        let down = async {
            let _ = tokio::io::copy(&mut sr, &mut pw).await;
            let _ = pw.shutdown().await;
        };
        tokio::join!(up, down);
    });
    let mut tls = tls_over(client, &pki, "origin.test").await.unwrap();
    tls.write_all(b"GET / HTTP/1.1\r\nHost: origin.test\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_response(&mut tls, false).await.text(), "hello");
    drop(tls);
    let _ = tokio::time::timeout(DEADLINE, pump).await;
    let e = proxy
        .event_where(|e| e["tls"]["client"]["server_name"] == "origin.test")
        .await;
    assert_eq!(e["event"]["action"], "allowed");
}

#[tokio::test]
async fn require_sni_for_covered_refuses_hellos_without_sni() {
    let pki = Pki::new(&["127.0.0.1"]);
    let origin = TlsOrigin::start(&pki).await;
    let port = origin.addr.port();
    let proxy = Proxy::start(Opts {
        connect_ports: vec![port],
        proxy: "require_sni_for_covered = true".into(),
        ..Opts::default()
    })
    .await;
    // rustls sends no SNI when connecting to an IP address.
    let (s, resp) = connect_tunnel(proxy.addr, &format!("127.0.0.1:{port}"), Some(("fed-cov", "tok-cov"))).await;
    assert_eq!(resp.status, 200);
    let err = tls_over(s, &pki, "127.0.0.1").await.expect_err("refused");
    assert!(err.to_string().contains("AccessDenied"), "{err}");
    let e = proxy.event_where(|e| e["event"]["reason"] == "sni_required").await;
    assert_eq!(e["event"]["action"], "blocked");
    assert_eq!(e["destination"]["ip"], "127.0.0.1");
    assert!(e.get("tls").is_none());
    // Not covered: decided on what is known, and allowed.
    let (s, _) = connect_tunnel(proxy.addr, &format!("127.0.0.1:{port}"), Some(("fed-adv", "tok-adv"))).await;
    let mut tls = tls_over(s, &pki, "127.0.0.1").await.unwrap();
    tls.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    assert_eq!(read_response(&mut tls, false).await.text(), "hello");
    assert_eq!(origin.connection_count(), 1);
}

/// A minimal TLS 1.2-style ClientHello with SNI and an ECH extension.
fn hello_with_ech(sni: &str) -> Vec<u8> {
    let mut ext = Vec::new();
    let name = sni.as_bytes();
    let mut sni_ext = Vec::new();
    sni_ext.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
    sni_ext.push(0);
    sni_ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
    sni_ext.extend_from_slice(name);
    ext.extend_from_slice(&[0, 0]);
    ext.extend_from_slice(&(sni_ext.len() as u16).to_be_bytes());
    ext.extend_from_slice(&sni_ext);
    ext.extend_from_slice(&[0xfe, 0x0d, 0, 4, 0, 0, 1, 0]);
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7u8; 32]);
    body.push(0);
    body.extend_from_slice(&[0, 2, 0x13, 0x01, 1, 0]);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![1, 0];
    hs.extend_from_slice(&(body.len() as u16).to_be_bytes());
    hs.extend_from_slice(&body);
    let mut rec = vec![22, 3, 1];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

#[tokio::test]
async fn ech_is_flagged_in_the_event() {
    let (_pki, origin, proxy) = setup().await;
    let port = origin.addr.port();
    let (mut s, resp) = connect_tunnel(proxy.addr, &format!("origin.test:{port}"), Some(("fed-cov", "tok-cov"))).await;
    assert_eq!(resp.status, 200);
    s.write_all(&hello_with_ech("origin.test")).await.unwrap();
    // The origin rejects this synthetic hello; the tunnel closes and is logged.
    let _ = read_to_close(&mut s).await;
    drop(s);
    let e = proxy
        .event_where(|e| e["tls"]["client"]["server_name"] == "origin.test")
        .await;
    assert_eq!(e["labels"]["ech"], "true");
    assert_eq!(origin.connection_count(), 1);
}

#[tokio::test]
async fn non_tls_bytes_and_silence_after_the_200() {
    let (_pki, origin, proxy) = setup().await;
    let port = origin.addr.port();
    let (mut s, _) = connect_tunnel(proxy.addr, &format!("origin.test:{port}"), Some(("fed-cov", "tok-cov"))).await;
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    assert!(
        read_to_close(&mut s).await.is_empty(),
        "closed without an alert: no ClientHello was read"
    );
    let e = proxy.event_where(|e| e["event"]["reason"] == "not_tls").await;
    assert_eq!(e["event"]["action"], "error");
    assert_eq!(origin.connection_count(), 0);
    drop(proxy);

    let proxy = Proxy::start(Opts {
        connect_ports: vec![port],
        limits: "client_hello_timeout = \"200ms\"".into(),
        ..Opts::default()
    })
    .await;
    let (mut s, _) = connect_tunnel(proxy.addr, &format!("origin.test:{port}"), Some(("fed-cov", "tok-cov"))).await;
    assert!(read_to_close(&mut s).await.is_empty());
    let e = proxy
        .event_where(|e| e["event"]["reason"] == "client_hello_timeout")
        .await;
    assert_eq!(e["event"]["type"], serde_json::json!(["connection", "error"]));
    // Garbage that looks like TLS is invalid.
    let (mut s, _) = connect_tunnel(proxy.addr, &format!("origin.test:{port}"), Some(("fed-cov", "tok-cov"))).await;
    s.write_all(&[22, 3, 1, 0, 4, 2, 0, 0, 0]).await.unwrap();
    let _ = read_to_close(&mut s).await;
    proxy
        .event_where(|e| e["event"]["reason"] == "client_hello_invalid")
        .await;
    assert_eq!(origin.connection_count(), 0);
}

#[tokio::test]
async fn non_tls_tunnels_when_allowed() {
    let http = HttpOrigin::start().await;
    let port = http.addr.port();
    let proxy = Proxy::start(Opts {
        connect_ports: vec![port],
        proxy: "allow_non_tls_tunnels = true".into(),
        ..Opts::default()
    })
    .await;
    let (mut s, resp) = connect_tunnel(proxy.addr, &format!("origin.test:{port}"), Some(("fed-cov", "tok-cov"))).await;
    assert_eq!(resp.status, 200);
    s.write_all(b"GET /inside HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let r = read_response(&mut s, false).await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("/inside"));
    drop(s);
    let e = proxy
        .event_where(|e| e["destination"]["port"] == port && e["event"]["action"] == "allowed")
        .await;
    assert!(e.get("tls").is_none());
}

#[tokio::test]
async fn ports_and_addresses_are_refused_before_the_200() {
    let (_pki, origin, proxy) = setup().await;
    let (_s, resp) = connect_tunnel(proxy.addr, "origin.test:22", Some(("fed-cov", "tok-cov"))).await;
    assert_eq!(resp.status, 403);
    assert!(resp
        .header("proxy-status")
        .unwrap()
        .contains("error=http_request_denied"));
    let e = proxy.event(&resp.event_id()).await;
    assert_eq!(
        (e["event"]["action"].as_str(), e["event"]["reason"].as_str()),
        (Some("refused"), Some("port_not_allowed"))
    );
    for target in ["169.254.169.254:443", "[::1]:443", "0.0.0.0:443", "100.64.0.1:443"] {
        let (_s, resp) = connect_tunnel(proxy.addr, target, Some(("fed-cov", "tok-cov"))).await;
        assert_eq!(resp.status, 403, "{target}");
        assert!(
            resp.header("proxy-status")
                .unwrap()
                .contains("error=destination_ip_prohibited"),
            "{target}"
        );
        let e = proxy.event(&resp.event_id()).await;
        assert_eq!(e["event"]["reason"], "destination_prohibited");
    }
    // The proxy's own listeners (here the admin address, 127.0.0.1:1), even though
    // 127.0.0.0/8 is allowed.
    drop(proxy);
    let proxy = Proxy::start(Opts {
        connect_ports: vec![1, origin.addr.port()],
        ..Opts::default()
    })
    .await;
    let (_s, resp) = connect_tunnel(proxy.addr, "127.0.0.1:1", Some(("fed-cov", "tok-cov"))).await;
    assert_eq!(resp.status, 403, "{resp:?}");
    assert!(resp
        .header("proxy-status")
        .unwrap()
        .contains("error=destination_ip_prohibited"));
}

#[tokio::test]
async fn upstream_refusal_after_the_200_is_an_internal_error_alert() {
    let pki = Pki::new(&["origin.test"]);
    // A port nobody listens on: bind, learn the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let proxy = Proxy::start(Opts {
        connect_ports: vec![port],
        ..Opts::default()
    })
    .await;
    let (s, resp) = connect_tunnel(proxy.addr, &format!("origin.test:{port}"), Some(("fed-cov", "tok-cov"))).await;
    assert_eq!(resp.status, 200);
    let err = tls_over(s, &pki, "origin.test").await.expect_err("no upstream");
    assert!(err.to_string().contains("InternalError"), "{err}");
    let e = proxy
        .event_where(|e| e["event"]["reason"] == "upstream_connect_failed")
        .await;
    assert_eq!(e["event"]["action"], "error");
}

#[tokio::test]
async fn idle_tunnels_close_with_their_event() {
    let pki = Pki::new(&["origin.test"]);
    let http = HttpOrigin::start().await;
    let port = http.addr.port();
    let proxy = Proxy::start(Opts {
        connect_ports: vec![port],
        proxy: "allow_non_tls_tunnels = true".into(),
        limits: "idle_timeout = \"300ms\"".into(),
        ..Opts::default()
    })
    .await;
    let _ = pki;
    let (mut s, resp) = connect_tunnel(proxy.addr, &format!("origin.test:{port}"), Some(("fed-cov", "tok-cov"))).await;
    assert_eq!(resp.status, 200);
    s.write_all(b"GET /a HTTP/1.1\r\nHost: origin.test\r\n\r\n")
        .await
        .unwrap();
    let r = read_response(&mut s, false).await;
    assert_eq!(r.status, 200);
    // Keep-alive: the origin would hold this open; the proxy closes it when idle.
    let rest = read_to_close(&mut s).await;
    assert!(rest.is_empty());
    let e = proxy.event_where(|e| e["destination"]["port"] == port).await;
    assert!(e["event"]["duration"].as_u64().unwrap() >= 300_000_000, "{e}");
}

#[tokio::test]
async fn tunnel_open_events_when_asked() {
    let (pki, origin, proxy) = {
        let pki = Pki::new(NAMES);
        let origin = TlsOrigin::start(&pki).await;
        let proxy = Proxy::start(Opts {
            connect_ports: vec![origin.addr.port()],
            log: "tunnel_open_events = true".into(),
            ..Opts::default()
        })
        .await;
        (pki, origin, proxy)
    };
    assert_eq!(
        fetch(&proxy, &pki, "origin.test", origin.addr.port(), ("fed-cov", "tok-cov")).await,
        "hello"
    );
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let events = proxy.events().await;
        let tunnel: Vec<_> = events
            .iter()
            .filter(|e| e["destination"]["domain"] == "origin.test")
            .collect();
        if tunnel.len() == 2 {
            assert!(
                tunnel[0].get("event").unwrap().get("duration").is_none(),
                "open event has no duration"
            );
            assert!(tunnel[1]["event"]["duration"].as_u64().is_some());
            assert_ne!(tunnel[0]["event"]["id"], tunnel[1]["event"]["id"]);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{events:#?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

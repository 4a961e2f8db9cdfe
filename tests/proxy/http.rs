//! Plain HTTP: forwarding, framing checks, block pages, upstream failures, head limits.

use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncWriteExt;

use crate::support::*;

#[tokio::test]
async fn forwards_in_origin_form_without_hop_by_hop_headers() {
    let origin = HttpOrigin::start().await;
    let proxy = Proxy::start(Opts::default()).await;
    let port = origin.addr.port();
    let host = format!("origin.test:{port}");
    let req = get(
        &format!("http://{host}/path?q=1"),
        &host,
        Some(("fed-cov", "tok-cov")),
        "Connection: keep-alive, X-Drop\r\nX-Drop: secret\r\nKeep-Alive: 5\r\nProxy-Connection: keep-alive\r\nX-Keep: yes\r\n",
    );
    let mut s = connect(proxy.addr).await;
    s.write_all(req.as_bytes()).await.unwrap();
    let resp = read_response(&mut s, false).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("x-origin"), Some("hyper"));
    assert!(
        resp.header("x-hop").is_none(),
        "headers named by Connection are dropped"
    );
    let echo: Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(echo["path"], "/path?q=1");
    let names: Vec<String> = echo["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h[0].as_str().unwrap().to_owned())
        .collect();
    for dropped in [
        "proxy-authorization",
        "x-drop",
        "keep-alive",
        "proxy-connection",
        "connection",
    ] {
        assert!(!names.contains(&dropped.to_owned()), "{dropped} forwarded: {names:?}");
    }
    assert!(names.contains(&"x-keep".to_owned()));
    assert!(names.contains(&"host".to_owned()));

    // Keep-alive: a second request on the same client and upstream connection.
    s.write_all(
        get(
            &format!("http://{host}/second"),
            &host,
            Some(("fed-cov", "tok-cov")),
            "",
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let resp = read_response(&mut s, false).await;
    let echo: Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(echo["path"], "/second");
    assert_eq!(origin.connections.load(std::sync::atomic::Ordering::SeqCst), 1);

    let e = proxy.event_where(|e| e["http"]["response"]["status_code"] == 200).await;
    assert_eq!(e["event"]["action"], "allowed");
    assert_eq!(e["event"]["type"], serde_json::json!(["access", "allowed"]));
    assert_eq!(e["http"]["request"]["method"], "GET");
    assert_eq!(e["labels"]["listener"], "explicit");
    assert_eq!(e["labels"]["identity"], "token");
    assert!(e.get("url").is_none(), "allowed_detail = host: no path or query");
    assert!(e["destination"]["bytes"].as_u64().unwrap() > 0);
    assert!(e["source"]["bytes"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn streams_chunked_and_sized_bodies() {
    let origin = HttpOrigin::start().await;
    let proxy = Proxy::start(Opts {
        privacy: "allowed_detail = \"url\"".into(),
        ..Opts::default()
    })
    .await;
    let host = format!("origin.test:{}", origin.addr.port());
    let mut s = connect(proxy.addr).await;
    let auth = basic("fed-cov", "tok-cov");
    let body = vec![b'x'; 300_000];
    let head = format!("POST http://{host}/upload HTTP/1.1\r\nHost: {host}\r\nProxy-Authorization: {auth}\r\nTransfer-Encoding: chunked\r\n\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(70_000) {
        s.write_all(format!("{:x};ext=1\r\n", chunk.len()).as_bytes())
            .await
            .unwrap();
        s.write_all(chunk).await.unwrap();
        s.write_all(b"\r\n").await.unwrap();
    }
    s.write_all(b"0\r\nX-Trailer: t\r\n\r\n").await.unwrap();
    let resp = read_response(&mut s, false).await;
    let echo: Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(echo["body_len"], 300_000);
    let head = format!("PUT http://{host}/sized HTTP/1.1\r\nHost: {host}\r\nProxy-Authorization: {auth}\r\nContent-Length: 5\r\n\r\nhello");
    s.write_all(head.as_bytes()).await.unwrap();
    let resp = read_response(&mut s, false).await;
    let echo: Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(
        (echo["method"].as_str(), echo["body_len"].as_u64()),
        (Some("PUT"), Some(5))
    );
    let e = proxy.event_where(|e| e["http"]["request"]["method"] == "PUT").await;
    assert_eq!(e["url"]["original"], format!("http://{host}/sized"));
}

#[tokio::test]
async fn block_page_speaks_the_users_language_and_json() {
    let proxy = Proxy::start(Opts::default()).await;
    let cases = [
        ("nl-BE,nl;q=0.9,en;q=0.5", "lang=\"nl\""),
        ("fr-BE", "lang=\"fr\""),
        ("de", "lang=\"de\""),
        ("es", "lang=\"en\""),
    ];
    for (lang, want) in cases {
        let req = get(
            "http://www.tiktok.com/video/1",
            "www.tiktok.com",
            Some(("fed-cov", "tok-cov")),
            &format!("Accept-Language: {lang}\r\n"),
        );
        let resp = raw(proxy.addr, &req).await;
        assert_eq!(resp.status, 403);
        let html = resp.text();
        assert!(html.contains(want), "{lang}: {html}");
        let id = resp.event_id();
        assert!(html.contains(&id));
        assert!(html.contains("Federal ban"));
        assert!(html.contains("National Security Council decision, 2023-03-10"));
        assert!(html.contains("Helpdesk &lt;ext. 1234&gt;"), "contact, escaped");
        assert!(resp.header("proxy-status").unwrap().contains(&id));
        let e = proxy.event(&id).await;
        assert_eq!(e["event"]["type"], serde_json::json!(["access", "denied"]));
        assert_eq!(
            e["url"]["original"], "http://www.tiktok.com/video/1",
            "blocked events keep the URL"
        );
        assert_eq!(e["http"]["response"]["status_code"], 403);
    }
    let req = get(
        "http://www.tiktok.com/",
        "www.tiktok.com",
        Some(("fed-cov", "tok-cov")),
        "Accept: application/json\r\n",
    );
    let resp = raw(proxy.addr, &req).await;
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let v: Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(v["event_id"], resp.event_id());
    assert_eq!(v["action"], "blocked");
    assert_eq!(v["host"], "www.tiktok.com");
    assert_eq!(
        v["policy"],
        serde_json::json!({"id": "fed", "title": "Federal ban", "reference": "National Security Council decision, 2023-03-10"})
    );
    assert_eq!(v["ruleset"], "tiktok");
    assert_eq!(v["rule"], "tiktok.com");
    assert_eq!(v["contact"], "Helpdesk <ext. 1234>");
}

#[tokio::test]
async fn malformed_requests_get_400_and_nothing_is_forwarded() {
    let origin = HttpOrigin::start().await;
    let proxy = Proxy::start(Opts::default()).await;
    let host = format!("origin.test:{}", origin.addr.port());
    let auth = format!("Proxy-Authorization: {}\r\n", basic("fed-cov", "tok-cov"));
    let bad = [
        format!("GET http://{host}/ HTTP/1.1\r\nHost: other.test\r\n{auth}\r\n"),
        format!("GET http://{host}/ HTTP/1.1\r\n{auth}\r\n"),
        format!("GET http://{host}/ HTTP/1.1\r\nHost: {host}\r\nHost: {host}\r\n{auth}\r\n"),
        format!("POST http://{host}/ HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
        format!("POST http://{host}/ HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Length: 3\r\nContent-Length: 4\r\n\r\n"),
        format!("GET /relative HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n"),
        format!("GET https://{host}/ HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n"),
        format!("GET http://user@{host}/ HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n"),
        format!("GET http://127.1:{}/ HTTP/1.1\r\nHost: 127.1:{}\r\n{auth}\r\n", origin.addr.port(), origin.addr.port()),
        "GET http://a b/ HTTP/1.1\r\n\r\n".to_owned(),
        "\x16\x03\x01\x00\x05hello\r\n\r\n".to_owned(),
    ];
    for req in &bad {
        let resp = raw(proxy.addr, req).await;
        assert_eq!(resp.status, 400, "{req:?}");
        let e = proxy.event(&resp.event_id()).await;
        assert_eq!(
            (e["event"]["action"].as_str(), e["event"]["reason"].as_str()),
            (Some("error"), Some("bad_request")),
            "{req:?}"
        );
    }
    assert_eq!(origin.connections.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test]
async fn head_limits_answer_431_and_408() {
    let proxy = Proxy::start(Opts {
        limits: "header_bytes = 2048\nheader_timeout = \"300ms\"".into(),
        ..Opts::default()
    })
    .await;
    let big = format!(
        "GET http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\nX-Big: {}\r\n\r\n",
        "a".repeat(4096)
    );
    let resp = raw(proxy.addr, &big).await;
    assert_eq!(resp.status, 431);
    assert_eq!(
        proxy.event(&resp.event_id()).await["event"]["reason"],
        "header_too_large"
    );
    let mut s = connect(proxy.addr).await;
    s.write_all(b"GET http://origin.test/ HTTP/1.1\r\nHost: ori")
        .await
        .unwrap();
    let resp = read_response(&mut s, false).await;
    assert_eq!(resp.status, 408);
    assert_eq!(proxy.event(&resp.event_id()).await["event"]["reason"], "header_timeout");
    // A silent connection is closed without an answer or an event.
    let mut quiet = connect(proxy.addr).await;
    let got = read_to_close(&mut quiet).await;
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    // And the proxy still serves.
    let resp = raw(
        proxy.addr,
        &get(
            "http://www.tiktok.com/",
            "www.tiktok.com",
            Some(("fed-cov", "tok-cov")),
            "",
        ),
    )
    .await;
    assert_eq!(resp.status, 403);
}

#[tokio::test]
async fn upstream_failures_are_502_and_504() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let proxy = Proxy::start(Opts {
        limits: "connect_timeout = \"300ms\"".into(),
        ..Opts::default()
    })
    .await;
    let host = format!("origin.test:{port}");
    let resp = raw(
        proxy.addr,
        &get(&format!("http://{host}/"), &host, Some(("fed-cov", "tok-cov")), ""),
    )
    .await;
    assert_eq!(resp.status, 502);
    assert!(resp
        .header("proxy-status")
        .unwrap()
        .contains("error=connection_refused"));
    assert_eq!(
        proxy.event(&resp.event_id()).await["event"]["reason"],
        "upstream_connect_failed"
    );

    // A listener whose accept queue is full drops SYNs: the connect times out.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&"127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into())
        .unwrap();
    socket.listen(0).unwrap();
    let full = socket.local_addr().unwrap().as_socket().unwrap().port();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(s)) = tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(("127.0.0.1", full)),
        )
        .await
        {
            fillers.push(s);
        }
    }
    let host = format!("origin.test:{full}");
    let resp = raw(
        proxy.addr,
        &get(&format!("http://{host}/"), &host, Some(("fed-cov", "tok-cov")), ""),
    )
    .await;
    assert_eq!(resp.status, 504, "{resp:?}");
    assert!(resp
        .header("proxy-status")
        .unwrap()
        .contains("error=connection_timeout"));
    assert_eq!(
        proxy.event(&resp.event_id()).await["event"]["reason"],
        "upstream_timeout"
    );
}

#[tokio::test]
async fn the_proxy_is_never_its_own_destination() {
    let proxy = Proxy::start(Opts::default()).await;
    let host = format!("127.0.0.1:{}", proxy.addr.port());
    let resp = raw(
        proxy.addr,
        &get(&format!("http://{host}/"), &host, Some(("fed-cov", "tok-cov")), ""),
    )
    .await;
    assert_eq!(resp.status, 403);
    assert!(resp
        .header("proxy-status")
        .unwrap()
        .contains("error=destination_ip_prohibited"));
}

#[tokio::test]
async fn head_requests_keep_the_length_and_have_no_body() {
    let origin = HttpOrigin::start().await;
    let proxy = Proxy::start(Opts::default()).await;
    let host = format!("origin.test:{}", origin.addr.port());
    let mut s = connect(proxy.addr).await;
    let auth = basic("fed-cov", "tok-cov");
    s.write_all(
        format!("HEAD http://{host}/h HTTP/1.1\r\nHost: {host}\r\nProxy-Authorization: {auth}\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let resp = read_response(&mut s, true).await;
    assert_eq!(resp.status, 200);
    assert!(resp.header("content-length").is_some(), "{resp:?}");
    // The connection is still usable: no body bytes were sent after the HEAD answer.
    s.write_all(
        format!("GET http://{host}/next HTTP/1.1\r\nHost: {host}\r\nProxy-Authorization: {auth}\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let resp = read_response(&mut s, false).await;
    let echo: Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(echo["path"], "/next");
}

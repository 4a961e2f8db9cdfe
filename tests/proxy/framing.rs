//! Request framing faults: a body whose framing fails mid-stream aborts the upstream
//! connection and answers 400, chunked bodies are checked to RFC 9112 §7.1 before a
//! byte is relayed, locally made answers to `HEAD` have no content, and a doubled
//! credential is refused.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

const AUTH: (&str, &str) = ("fed-cov", "tok-cov");

/// Bodies whose framing fails after the head was forwarded: (what, framing header,
/// body bytes, bytes the origin must never see).
const BROKEN_BODIES: &[(&str, &str, &[u8], &[u8])] = &[
    (
        "chunk size not hexadecimal",
        "Transfer-Encoding: chunked",
        b"5zz\r\nhello\r\n0\r\n\r\n",
        b"5zz",
    ),
    (
        "bare CR in a chunk extension",
        "Transfer-Encoding: chunked",
        b"5;a\rb\r\nhello\r\n0\r\n\r\n",
        b"5;a\r",
    ),
    (
        "obs-fold line in the trailer section",
        "Transfer-Encoding: chunked",
        b"5\r\nhello\r\n0\r\nX-A: b\r\n folded\r\n\r\n",
        b"folded",
    ),
    (
        "LF without CR after a chunk size",
        "Transfer-Encoding: chunked",
        b"5\nhello\r\n0\r\n\r\n",
        b"5\n",
    ),
    (
        "chunk data longer than its size",
        "Transfer-Encoding: chunked",
        b"3\r\nhello\r\n0\r\n\r\n",
        b"lo",
    ),
    (
        "client closes inside a chunk",
        "Transfer-Encoding: chunked",
        b"5\r\nhel",
        b"",
    ),
    (
        "client closes inside a Content-Length body",
        "Content-Length: 10",
        b"hello",
        b"",
    ),
];

#[tokio::test]
async fn a_body_that_fails_mid_stream_aborts_the_upstream_and_answers_400() {
    for (what, framing, body, never) in BROKEN_BODIES {
        let origin = SilentOrigin::start().await;
        let proxy = Proxy::start(Opts::default()).await;
        let host = format!("origin.test:{}", origin.addr.port());
        let head = format!(
            "POST http://{host}/x HTTP/1.1\r\nHost: {host}\r\nProxy-Authorization: {}\r\n{framing}\r\n\r\n",
            basic(AUTH.0, AUTH.1)
        );
        let mut s = connect(proxy.addr).await;
        s.write_all(head.as_bytes()).await.unwrap();
        // The head goes upstream first (the body streams), then the body follows.
        let (received, (got, ended)) = tokio::join!(
            async {
                s.write_all(body).await.unwrap();
                if what.starts_with("client closes") {
                    s.shutdown().await.unwrap();
                }
                read_response(&mut s, false).await
            },
            origin.first_connection()
        );
        assert_eq!(received.status, 400, "{what}: {received:?}");
        let status = received.header("proxy-status").unwrap();
        assert!(status.contains("error=http_request_error"), "{what}: {status}");
        assert_eq!(
            ended,
            Ended::Reset,
            "{what}: the upstream connection is aborted, not left open"
        );
        let got_text = got.escape_ascii().to_string();
        assert!(got.starts_with(b"POST /x HTTP/1.1\r\n"), "{what}: {got_text}");
        if !never.is_empty() {
            assert!(
                !got.windows(never.len()).any(|w| w == *never),
                "{what}: invalid bytes relayed: {got_text}"
            );
        }
        let event = proxy.event(&received.event_id()).await;
        assert_eq!(event["event"]["reason"], "bad_request", "{what}");
        assert_eq!(event["event"]["action"], "error", "{what}");
        assert_eq!(event["http"]["response"]["status_code"], 400, "{what}");
        proxy.stop().await;
    }
}

/// Extensions and trailers that follow the grammar still pass, byte for byte.
#[tokio::test]
async fn valid_chunk_extensions_and_trailers_pass() {
    let origin = HttpOrigin::start().await;
    let proxy = Proxy::start(Opts::default()).await;
    let host = format!("origin.test:{}", origin.addr.port());
    let head = format!(
        "POST http://{host}/x HTTP/1.1\r\nHost: {host}\r\nProxy-Authorization: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
        basic(AUTH.0, AUTH.1)
    );
    let body = b"5 ; name = \"quoted \\\" value\" ; flag\r\nhello\r\n6;a=b\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\n";
    let mut s = connect(proxy.addr).await;
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let resp = read_response(&mut s, false).await;
    assert_eq!(resp.status, 200, "{resp:?}");
    let echo: Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(echo["body_len"], 11);
    // Keep-alive holds: the next request on the same connection is answered.
    s.write_all(get(&format!("http://{host}/next"), &host, Some(AUTH), "").as_bytes())
        .await
        .unwrap();
    assert_eq!(read_response(&mut s, false).await.status, 200);
    proxy.stop().await;
}

/// RFC 9110 §9.3.2: no answer slagboom makes to `HEAD` has content, so a second
/// request on the same connection is read as a request, not as left-over body.
#[tokio::test]
async fn local_answers_to_head_have_no_content() {
    let proxy = Proxy::start(Opts::default()).await;
    let host = "origin.test:8080";

    // 407 keeps the connection open: two in a row.
    let head = format!("HEAD http://{host}/k1 HTTP/1.1\r\nHost: {host}\r\n\r\n");
    let mut s = connect(proxy.addr).await;
    for _ in 0..2 {
        s.write_all(head.as_bytes()).await.unwrap();
        let resp = read_response(&mut s, true).await;
        assert_eq!(resp.status, 407, "{resp:?}");
        assert!(resp.header("content-length").is_some_and(|l| l != "0"));
    }
    // A third, with a GET, still parses as a fresh answer with its body.
    s.write_all(get(&format!("http://{host}/k1"), host, None, "").as_bytes())
        .await
        .unwrap();
    let resp = read_response(&mut s, false).await;
    assert_eq!(resp.status, 407);
    assert!(!resp.body.is_empty());

    // Answers that close the connection: nothing follows the head.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let auth = format!("Proxy-Authorization: {}\r\n", basic(AUTH.0, AUTH.1));
    for (request, status) in [
        // Block page (HTML and JSON).
        (
            format!("HEAD http://www.tiktok.com/ HTTP/1.1\r\nHost: www.tiktok.com\r\n{auth}\r\n"),
            403,
        ),
        (
            format!("HEAD http://www.tiktok.com/ HTTP/1.1\r\nHost: www.tiktok.com\r\nAccept: application/json\r\n{auth}\r\n"),
            403,
        ),
        // Host disagreeing with the target: 400.
        (
            format!("HEAD http://origin.test/ HTTP/1.1\r\nHost: other.test\r\n{auth}\r\n"),
            400,
        ),
        // Refused destination address.
        (format!("HEAD http://169.254.169.254/ HTTP/1.1\r\nHost: 169.254.169.254\r\n{auth}\r\n"), 403),
        // Retired device.
        (
            format!(
                "HEAD http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\nProxy-Authorization: {}\r\n\r\n",
                basic("fed-ret", "tok-ret")
            ),
            403,
        ),
        // Upstream refused: 502.
        (
            format!("HEAD http://origin.test:{closed}/ HTTP/1.1\r\nHost: origin.test:{closed}\r\n{auth}\r\n"),
            502,
        ),
    ] {
        let mut s = connect(proxy.addr).await;
        s.write_all(request.as_bytes()).await.unwrap();
        let resp = read_response(&mut s, true).await;
        assert_eq!(resp.status, status, "{request}: {resp:?}");
        assert!(resp.header("slagboom-event-id").is_some());
        let rest = read_to_close(&mut s).await;
        assert!(rest.is_empty(), "{request}: content after the head: {}", rest.escape_ascii());
    }
    proxy.stop().await;
}

/// SPEC §6: more than one `Proxy-Authorization` is 400, never "the first one wins",
/// whatever the order, the method, and whether the values agree.
#[tokio::test]
async fn doubled_credentials_are_400_on_every_method() {
    let origin = HttpOrigin::start().await;
    let proxy = Proxy::start(Opts::default()).await;
    let host = format!("origin.test:{}", origin.addr.port());
    let good = basic(AUTH.0, AUTH.1);
    let wrong = basic(AUTH.0, "wrong");
    for (first, second) in [(&good, &wrong), (&wrong, &good), (&good, &good)] {
        let creds = format!("Proxy-Authorization: {first}\r\nProxy-Authorization: {second}\r\n");
        for request in [
            format!("GET http://{host}/ HTTP/1.1\r\nHost: {host}\r\n{creds}\r\n"),
            format!("HEAD http://{host}/ HTTP/1.1\r\nHost: {host}\r\n{creds}\r\n"),
            format!("POST http://{host}/ HTTP/1.1\r\nHost: {host}\r\n{creds}Content-Length: 2\r\n\r\nhi"),
            format!("CONNECT origin.test:443 HTTP/1.1\r\nHost: origin.test:443\r\n{creds}\r\n"),
        ] {
            let mut s = connect(proxy.addr).await;
            s.write_all(request.as_bytes()).await.unwrap();
            let resp = read_response(&mut s, request.starts_with("HEAD")).await;
            assert_eq!(resp.status, 400, "{request}: {resp:?}");
            let text = resp.text();
            assert!(!text.contains("tok-cov") && !text.contains(&good), "credential echoed");
            let event = proxy.event(&resp.event_id()).await;
            assert_eq!(event["event"]["reason"], "bad_request");
            assert!(!event.to_string().contains("tok-cov"), "credential in the event");
        }
    }
    assert_eq!(
        origin.connections.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "nothing forwarded"
    );
    proxy.stop().await;
}

/// Two `Content-Length` headers, equal or not, or a list in one, are 400 and nothing
/// reaches the origin.
#[tokio::test]
async fn doubled_content_length_is_400() {
    let origin = SilentOrigin::start().await;
    let proxy = Proxy::start(Opts::default()).await;
    let host = format!("origin.test:{}", origin.addr.port());
    let auth = basic(AUTH.0, AUTH.1);
    for lengths in [
        "Content-Length: 2\r\nContent-Length: 3\r\n",
        "Content-Length: 2\r\nContent-Length: 2\r\n",
        "Content-Length: 2, 2\r\n",
    ] {
        let request =
            format!("POST http://{host}/ HTTP/1.1\r\nHost: {host}\r\nProxy-Authorization: {auth}\r\n{lengths}\r\nhi");
        let mut s = connect(proxy.addr).await;
        s.write_all(request.as_bytes()).await.unwrap();
        let resp = read_response(&mut s, false).await;
        assert_eq!(resp.status, 400, "{lengths}: {resp:?}");
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut probe = connect(origin.addr).await;
    probe.shutdown().await.unwrap();
    let (got, _) = origin.first_connection().await;
    assert!(got.is_empty(), "only the probe reached the origin");
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(DEADLINE, probe.read_to_end(&mut rest)).await;
    proxy.stop().await;
}

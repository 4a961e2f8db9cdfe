//! CONNECT before and right after the 200: an allowed name is resolved and every
//! address checked before the 200 (no second resolution later), and once a handshake
//! record header was read every refusal is a TLS alert that says why.

use tokio::io::AsyncWriteExt;

use crate::support::*;

const AUTH: Option<(&str, &str)> = Some(("fed-cov", "tok-cov"));
const DECODE_ERROR: [u8; 7] = [21, 3, 3, 0, 2, 2, 50];
const INTERNAL_ERROR: [u8; 7] = [21, 3, 3, 0, 2, 2, 80];

#[tokio::test]
async fn allowed_names_are_resolved_and_checked_before_the_200() {
    let proxy = Proxy::start(Opts {
        // Port 1 is the admin listener of the test configuration.
        connect_ports: vec![1],
        overrides: vec![
            ("metadata.test", "169.254.169.254"),
            ("mapped.test", "::ffff:169.254.169.254"),
            ("cidr.test", "192.0.2.7"),
        ],
        names: vec!["admin-alias.test".into()],
        ..Opts::default()
    })
    .await;
    for (target, ip, reason, error) in [
        (
            "metadata.test:443",
            "169.254.169.254",
            "destination_prohibited",
            "destination_ip_prohibited",
        ),
        (
            "mapped.test:443",
            "::ffff:169.254.169.254",
            "destination_prohibited",
            "destination_ip_prohibited",
        ),
        (
            "admin-alias.test:1",
            "127.0.0.1",
            "destination_prohibited",
            "destination_ip_prohibited",
        ),
        // A name whose address is in a blocking ruleset's CIDRs.
        ("cidr.test:443", "192.0.2.7", "policy", "http_request_denied"),
    ] {
        let (_s, resp) = connect_tunnel(proxy.addr, target, AUTH).await;
        assert_eq!(resp.status, 403, "{target}: {resp:?}");
        let status = resp.header("proxy-status").unwrap();
        assert!(status.contains(&format!("error={error}")), "{target}: {status}");
        let e = proxy.event(&resp.event_id()).await;
        assert_eq!(e["event"]["reason"], reason, "{target}");
        assert_eq!(e["destination"]["ip"], ip, "{target}");
        assert_eq!(e["destination"]["domain"], target.split(':').next().unwrap());
    }
    proxy.stop().await;
}

/// A minimal ClientHello whose extensions block is `extensions` (type, data) pairs.
fn hello(extensions: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut exts = Vec::new();
    for (kind, data) in extensions {
        exts.extend_from_slice(&kind.to_be_bytes());
        exts.extend_from_slice(&(data.len() as u16).to_be_bytes());
        exts.extend_from_slice(data);
    }
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7; 32]);
    body.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    let mut handshake = vec![1, 0];
    handshake.extend_from_slice(&(body.len() as u16).to_be_bytes());
    handshake.extend_from_slice(&body);
    let mut record = vec![22, 3, 1];
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

/// A server_name extension body: a list of (name type, name) entries, with the list
/// length given or computed.
fn server_names(entries: &[(u8, &str)], list_len: Option<u16>) -> Vec<u8> {
    let mut list = Vec::new();
    for (kind, name) in entries {
        list.push(*kind);
        list.extend_from_slice(&(name.len() as u16).to_be_bytes());
        list.extend_from_slice(name.as_bytes());
    }
    let mut out = list_len.unwrap_or(list.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(&list);
    out
}

#[tokio::test]
async fn refusals_after_the_200_send_the_alert_that_says_why() {
    let (pki, origin) = (Pki::new(&["origin.test"]), SilentOrigin::start().await);
    let port = origin.addr.port();
    let opts = Opts {
        connect_ports: vec![port],
        limits: "client_hello_timeout = \"300ms\"\nclient_hello_bytes = 1024".into(),
        ..Opts::default()
    };
    let target = format!("origin.test:{port}");
    let cases: Vec<(&str, Vec<u8>, &str, Vec<u8>)> = vec![
        (
            "two host names",
            hello(&[(0, server_names(&[(0, "origin.test"), (0, "www.tiktok.com")], None))]),
            "client_hello_invalid",
            DECODE_ERROR.to_vec(),
        ),
        (
            "name list overruns the extension",
            hello(&[(0, server_names(&[(0, "origin.test")], Some(200)))]),
            "client_hello_invalid",
            DECODE_ERROR.to_vec(),
        ),
        (
            "SNI that is no host name",
            hello(&[(0, server_names(&[(0, "bad..name")], None))]),
            "client_hello_invalid",
            DECODE_ERROR.to_vec(),
        ),
        (
            "a record that cannot be a hello",
            vec![22, 3, 1, 0, 4, 2, 0, 0, 0],
            "client_hello_invalid",
            DECODE_ERROR.to_vec(),
        ),
        (
            "larger than client_hello_bytes",
            // A record header declaring 4 KiB, over the 1 KiB limit: refused at once.
            vec![22, 3, 1, 0x10, 0x00, 1, 0, 0x0f, 0xfc],
            "client_hello_invalid",
            INTERNAL_ERROR.to_vec(),
        ),
        (
            "a header, then silence",
            vec![22, 3, 1, 0, 200, 1],
            "client_hello_timeout",
            INTERNAL_ERROR.to_vec(),
        ),
        ("silence", Vec::new(), "client_hello_timeout", Vec::new()),
        ("not TLS", b"GET / HTTP/1.1\r\n\r\n".to_vec(), "not_tls", Vec::new()),
    ];
    for (what, bytes, reason, alert) in cases {
        // One proxy per case, so the event read is this case's.
        let proxy = Proxy::start(opts.clone()).await;
        let (mut s, resp) = connect_tunnel(proxy.addr, &target, AUTH).await;
        assert_eq!(resp.status, 200, "{what}");
        s.write_all(&bytes).await.unwrap();
        let got = read_to_close(&mut s).await;
        assert_eq!(got, alert, "{what}");
        let e = proxy.event_where(|e| e["event"]["reason"] == reason).await;
        assert_eq!(e["event"]["action"], "error", "{what}");
        assert_eq!(e["destination"]["port"], port, "{what}");
        proxy.stop().await;
    }
    let proxy = Proxy::start(opts).await;
    // A policy refusal is access_denied (fronting), and nothing reached the origin.
    let (s, _) = connect_tunnel(proxy.addr, &target, AUTH).await;
    let err = tls_over(s, &pki, "www.tiktok.com").await.expect_err("blocked");
    assert!(err.to_string().contains("AccessDenied"), "{err}");
    proxy.stop().await;
}

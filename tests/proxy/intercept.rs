//! Interception of blocked and advised hosts only (SPEC §7), through real sockets with
//! rustls clients that trust nothing but the block-page CA: the chain verifies (name
//! constraints included), the page carries the event's id, a leaf is minted once per
//! name, allowed traffic is never terminated, names outside the constraints are never
//! minted for, and the advice flow runs end to end.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use slagboom::state::Snapshot;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::support::*;

async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    config: Arc<rustls::ClientConfig>,
    name: &str,
) -> std::io::Result<TlsStream<S>> {
    let server_name = ServerName::try_from(name.to_owned()).unwrap();
    tokio::time::timeout(DEADLINE, TlsConnector::from(config).connect(server_name, stream))
        .await
        .expect("handshake in time")
}

/// CONNECT `host` as `auth`, TLS with SNI `sni` trusting `config`, then `request`.
async fn through(
    proxy: &Proxy,
    host: &str,
    sni: &str,
    auth: (&str, &str),
    config: Arc<rustls::ClientConfig>,
    request: &str,
) -> (Response, Vec<CertificateDer<'static>>) {
    let (s, resp) = connect_tunnel(proxy.addr, host, Some(auth)).await;
    assert_eq!(resp.status, 200, "{resp:?}");
    let mut tls = handshake(s, config, sni).await.expect("handshake");
    let chain = tls.get_ref().1.peer_certificates().unwrap().to_vec();
    assert_ne!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]), "never h2");
    tls.write_all(request.as_bytes()).await.unwrap();
    (read_response(&mut tls, false).await, chain)
}

fn metric(proxy: &Proxy, line: &str) -> bool {
    proxy.metrics.encode().lines().any(|l| l == line)
}

#[tokio::test]
async fn a_blocked_connect_host_gets_the_localised_block_page_over_tls() {
    let ca = block_ca();
    let proxy = Proxy::start(intercepting(&ca, Opts::default())).await;
    let config = trusting(&ca.cert_pem);
    let get = "GET /@someone?lang=nl HTTP/1.1\r\nHost: www.tiktok.com\r\nAccept-Language: nl-BE,nl;q=0.9\r\n\r\n";
    let (resp, chain) = through(
        &proxy,
        "www.tiktok.com:443",
        "www.tiktok.com",
        ("fed-cov", "tok-cov"),
        config.clone(),
        get,
    )
    .await;
    assert_eq!(resp.status, 403);
    assert_eq!(chain.len(), 2, "leaf and CA");
    let page = resp.text();
    assert!(page.contains("<html lang=\"nl\""), "{page}");
    assert!(page.contains("Toegang geblokkeerd"), "{page}");
    assert_eq!(resp.header("cache-control"), Some("no-store"));
    assert_eq!(
        resp.header("content-security-policy"),
        Some("default-src 'none'; style-src 'unsafe-inline'")
    );
    let id = resp.event_id();
    assert!(page.contains(&id), "the page names its event");
    assert!(!page.contains("tok-cov"), "no credential on the page");
    let e = proxy.event(&id).await;
    assert_eq!(e["event"]["action"], "blocked");
    assert_eq!(e["event"]["reason"], "policy");
    assert_eq!(e["labels"]["intercepted"], "true");
    assert_eq!(e["destination"]["domain"], "www.tiktok.com");
    assert_eq!(e["tls"]["client"]["server_name"], "www.tiktok.com");
    assert_eq!(e["rule"]["ruleset"], "tiktok");
    assert!(e["destination"].get("ip").is_none(), "a blocked name is never resolved");
    assert!(metric(&proxy, "slagboom_certificates_minted_total 1"));
    assert!(metric(&proxy, "slagboom_intercepted_total{kind=\"block\"} 1"));

    // The leaf comes from the cache the second time, for any path and in JSON too.
    let json = "GET /x HTTP/1.1\r\nHost: www.tiktok.com\r\nAccept: application/json\r\n\r\n";
    let (resp, again) = through(
        &proxy,
        "www.tiktok.com:443",
        "www.tiktok.com",
        ("fed-cov", "tok-cov"),
        config,
        json,
    )
    .await;
    assert_eq!(resp.status, 403);
    let body: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(body["event_id"], resp.event_id());
    assert_eq!(again[0], chain[0], "the same leaf");
    assert!(metric(&proxy, "slagboom_certificates_minted_total 1"));
    assert!(metric(&proxy, "slagboom_intercepted_total{kind=\"block\"} 2"));
}

#[tokio::test]
async fn the_leaf_is_what_the_spec_says() {
    let ca = block_ca();
    let proxy = Proxy::start(intercepting(&ca, Opts::default())).await;
    let (_, chain) = through(
        &proxy,
        "m.tiktok.com:443",
        "m.tiktok.com",
        ("fed-cov", "tok-cov"),
        trusting(&ca.cert_pem),
        "GET / HTTP/1.1\r\nHost: m.tiktok.com\r\n\r\n",
    )
    .await;
    let (_, leaf) = x509_parser::parse_x509_certificate(&chain[0]).unwrap();
    let san = leaf.subject_alternative_name().unwrap().unwrap();
    let names: Vec<String> = san.value.general_names.iter().map(|n| n.to_string()).collect();
    assert_eq!(names, ["DNSName(m.tiktok.com)"]);
    let bc = leaf.basic_constraints().unwrap().unwrap();
    assert!(!bc.value.ca, "CA:FALSE");
    let eku = leaf.extended_key_usage().unwrap().unwrap();
    assert!(eku.value.server_auth);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let not_before = leaf.validity().not_before.timestamp();
    let not_after = leaf.validity().not_after.timestamp();
    assert!((now - 3600 - not_before).abs() < 120, "notBefore one hour back");
    assert!(
        (not_after - now - 2 * 86_400).abs() < 120,
        "notAfter now + leaf_lifetime"
    );
    assert_eq!(
        leaf.public_key().algorithm.algorithm,
        x509_parser::oid_registry::OID_KEY_TYPE_EC_PUBLIC_KEY
    );
}

#[tokio::test]
async fn a_blocked_sni_under_an_allowed_connect_host_gets_the_page() {
    let ca = block_ca();
    let pki = Pki::new(&["origin.test"]);
    let origin = TlsOrigin::start(&pki).await;
    let proxy = Proxy::start(intercepting(
        &ca,
        Opts {
            connect_ports: vec![origin.addr.port()],
            ..Opts::default()
        },
    ))
    .await;
    let host = format!("origin.test:{}", origin.addr.port());
    let (resp, _) = through(
        &proxy,
        &host,
        "www.tiktok.com",
        ("fed-cov", "tok-cov"),
        trusting(&ca.cert_pem),
        "GET / HTTP/1.1\r\nHost: www.tiktok.com\r\n\r\n",
    )
    .await;
    assert_eq!(resp.status, 403);
    let e = proxy.event(&resp.event_id()).await;
    assert_eq!(e["event"]["reason"], "domain_fronting");
    assert_eq!(e["destination"]["domain"], "origin.test");
    assert_eq!(e["tls"]["client"]["server_name"], "www.tiktok.com");
    assert_eq!(e["labels"]["intercepted"], "true");
    assert_eq!(origin.connection_count(), 0, "nothing reached the origin");
}

#[tokio::test]
async fn allowed_traffic_is_never_terminated() {
    let ca = block_ca();
    let pki = Pki::new(&["origin.test", "www.tiktok.com"]);
    let origin = TlsOrigin::start(&pki).await;
    let proxy = Proxy::start(intercepting(
        &ca,
        Opts {
            connect_ports: vec![origin.addr.port()],
            ..Opts::default()
        },
    ))
    .await;
    // An allowed host, and a blocked one for a private device that may use it.
    for (host, auth) in [
        ("origin.test", ("fed-cov", "tok-cov")),
        ("www.tiktok.com", ("fed-priv", "tok-priv")),
    ] {
        let (s, resp) = connect_tunnel(proxy.addr, &format!("{host}:{}", origin.addr.port()), Some(auth)).await;
        assert_eq!(resp.status, 200);
        let mut tls = tls_over(s, &pki, host).await.expect("the origin's own handshake");
        let chain = tls.get_ref().1.peer_certificates().unwrap().to_vec();
        assert_eq!(chain[0], pki.leaf, "the origin's certificate, byte for byte");
        tls.write_all(format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        assert_eq!(read_response(&mut tls, false).await.text(), "hello");
    }
    assert!(metric(&proxy, "slagboom_certificates_minted_total 0"));
    assert!(proxy
        .events()
        .await
        .iter()
        .all(|e| e["labels"].get("intercepted").is_none()));
}

#[tokio::test]
async fn names_outside_the_constraints_are_never_minted_for() {
    let ca = block_ca();
    let proxy = Proxy::start(intercepting(&ca, Opts::default())).await;
    // A pattern and a CIDR cannot be name constraints: the 403 of SPEC §6 instead.
    for host in ["v16-pattern.test:443", "192.0.2.7:443"] {
        let (_s, resp) = connect_tunnel(proxy.addr, host, Some(("fed-cov", "tok-cov"))).await;
        assert_eq!(resp.status, 403, "{host}");
        let e = proxy.event(&resp.event_id()).await;
        assert_eq!(e["event"]["action"], "blocked");
        assert!(e["labels"].get("intercepted").is_none());
    }
    assert!(metric(&proxy, "slagboom_certificates_minted_total 0"));
}

#[tokio::test]
async fn a_client_that_refuses_the_leaf_is_still_on_record() {
    // A pinned app trusts only its own CA: the handshake fails, nothing is shown, the
    // block is recorded.
    let ca = block_ca();
    let proxy = Proxy::start(intercepting(&ca, Opts::default())).await;
    let pinned = Pki::new(&["www.tiktok.com"]);
    let (s, resp) = connect_tunnel(proxy.addr, "www.tiktok.com:443", Some(("fed-cov", "tok-cov"))).await;
    assert_eq!(resp.status, 200);
    assert!(tls_over(s, &pinned, "www.tiktok.com").await.is_err());
    let e = proxy
        .event_where(|e| e["event"]["action"] == "blocked" && e["destination"]["domain"] == "www.tiktok.com")
        .await;
    assert_eq!(e["event"]["reason"], "policy");
    assert!(e["labels"].get("intercepted").is_none(), "{e}");
}

#[tokio::test]
async fn advice_page_continue_and_then_untouched() {
    let ca = block_ca();
    let pki = Pki::new(&["www.tiktok.com"]);
    let origin = TlsOrigin::start(&pki).await;
    let second = ["fed-adv2", "federal", "none,none,none", "true", "tok-adv2", ""].map(String::from);
    let proxy = Proxy::start(intercepting(
        &ca,
        Opts {
            connect_ports: vec![origin.addr.port()],
            devices: vec![second],
            ..Opts::default()
        },
    ))
    .await;
    let port = origin.addr.port();
    let host = format!("www.tiktok.com:{port}");
    let config = trusting(&ca.cert_pem);
    let adv = ("fed-adv", "tok-adv");
    let get = format!("GET /foryou?x=1 HTTP/1.1\r\nHost: www.tiktok.com:{port}\r\nAccept-Language: fr\r\n\r\n");
    let (page, _) = through(&proxy, &host, "www.tiktok.com", adv, config.clone(), &get).await;
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(html.contains("<html lang=\"fr\""), "{html}");
    assert_eq!(
        page.header("content-security-policy"),
        Some("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
    );
    assert_eq!(page.header("cache-control"), Some("no-store"));
    let shown = proxy.event(&page.event_id()).await;
    assert_eq!(shown["event"]["action"], "advised");
    assert_eq!(shown["labels"]["intercepted"], "true");
    assert!(shown["labels"].get("acknowledged").is_none());
    assert!(metric(&proxy, "slagboom_intercepted_total{kind=\"advice\"} 1"));
    let token = html
        .split("name=\"token\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    assert!(html.contains("action=\"/.well-known/slagboom/continue\""));

    let post = |token: &str| {
        let body = format!("token={token}");
        format!(
            "POST /.well-known/slagboom/continue HTTP/1.1\r\nHost: www.tiktok.com:{port}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    // A forged token, and the right token from another device: 403.
    let (forged, _) = through(&proxy, &host, "www.tiktok.com", adv, config.clone(), &post("00ff")).await;
    assert_eq!(forged.status, 403);
    let other = ("fed-adv2", "tok-adv2");
    let (stolen, _) = through(&proxy, &host, "www.tiktok.com", other, config.clone(), &post(&token)).await;
    assert_eq!(stolen.status, 403);

    let (done, _) = through(&proxy, &host, "www.tiktok.com", adv, config.clone(), &post(&token)).await;
    assert_eq!(done.status, 303);
    assert_eq!(
        done.header("location"),
        Some(format!("https://www.tiktok.com:{port}/foryou?x=1").as_str())
    );
    let ack = proxy.event(&done.event_id()).await;
    assert_eq!(ack["event"]["action"], "advised");
    assert_eq!(ack["labels"]["acknowledged"], "true");
    assert_eq!(ack["device"]["id"], "fed-adv");

    // Used once only.
    let (reused, _) = through(&proxy, &host, "www.tiktok.com", other, config.clone(), &post(&token)).await;
    assert_eq!(reused.status, 403);

    // From now on the device's connections pass untouched: the origin's own certificate.
    let (s, resp) = connect_tunnel(proxy.addr, &host, Some(adv)).await;
    assert_eq!(resp.status, 200);
    let mut tls = tls_over(s, &pki, "www.tiktok.com")
        .await
        .expect("the origin's handshake");
    assert_eq!(tls.get_ref().1.peer_certificates().unwrap()[0], pki.leaf);
    tls.write_all(b"GET / HTTP/1.1\r\nHost: www.tiktok.com\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_response(&mut tls, false).await.text(), "hello");
    assert_eq!(origin.connection_count(), 1);
    // Another advisory device still sees the advice.
    let (again, _) = through(&proxy, &host, "www.tiktok.com", other, config, &get).await;
    assert_eq!(again.status, 200);
}

#[tokio::test]
async fn the_ca_key_and_certificate_are_checked_at_load() {
    use std::os::unix::fs::PermissionsExt;
    let ca = block_ca();
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &intercepting(&ca, Opts::default()));
    assert!(Snapshot::load(&path).is_ok());
    let key = dir.path().join("block-ca-key.pem");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let e = Snapshot::load(&path).unwrap_err().to_string();
    assert!(e.contains("readable by group or others"), "{e}");
    let other = block_ca();
    std::fs::write(&key, other.key_pem).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let e = Snapshot::load(&path).unwrap_err().to_string();
    assert!(e.contains("does not match"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_miss_at_once_share_one_mint() {
    let ca = block_ca();
    let proxy = Arc::new(Proxy::start(intercepting(&ca, Opts::default())).await);
    let config = trusting(&ca.cert_pem);
    let mut all = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let (proxy, config) = (proxy.clone(), config.clone());
        all.spawn(async move {
            let get = "GET / HTTP/1.1\r\nHost: www.tiktok.com\r\n\r\n";
            let auth = ("fed-cov", "tok-cov");
            through(&proxy, "www.tiktok.com:443", "www.tiktok.com", auth, config, get)
                .await
                .0
                .status
        });
    }
    while let Some(status) = all.join_next().await {
        assert_eq!(status.unwrap(), 403);
    }
    assert!(metric(&proxy, "slagboom_certificates_minted_total 1"));
    assert!(metric(&proxy, "slagboom_intercepted_total{kind=\"block\"} 12"));
}

//! The HTTPS proxy port (SPEC §7) with real rustls clients: device certificates from the
//! devices CA identify the device before token and address; an unknown certificate
//! gets 407, one that does not chain or has expired fails the handshake; without a
//! certificate the token applies; the explicit protocol runs unchanged inside TLS.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use slagboom::tls::ca;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::support::*;

struct Setup {
    proxy: Proxy,
    /// The proxy's own certificate chain.
    server: Pki,
    devices: ca::Issued,
    known: ca::Issued,
    origin: TlsOrigin,
    origin_pki: Pki,
}

async fn setup() -> Setup {
    let server = Pki::new(&["proxy.test"]);
    let devices = ca::devices_ca().unwrap();
    let known = ca::issue_device(&devices.cert_pem, &devices.key_pem, "cert-cov").unwrap();
    let origin_pki = Pki::new(&["origin.test"]);
    let origin = TlsOrigin::start(&origin_pki).await;
    let row = |id: &str, shares: &str, token: &str, cert: &str| {
        [id, "federal", shares, "false", token, cert].map(String::from)
    };
    let proxy = Proxy::start(Opts {
        proxy: "tls_listen = \"127.0.0.2:0\"\ntls_cert = \"proxy.pem\"\ntls_key = \"proxy-key.pem\"\nclient_ca = \"devices-ca.pem\"\n".into(),
        files: vec![
            ("proxy.pem".into(), server.leaf_pem.clone().into_bytes()),
            ("proxy-key.pem".into(), server.key_pem.clone().into_bytes()),
            ("devices-ca.pem".into(), devices.cert_pem.clone().into_bytes()),
        ],
        devices: vec![row("cert-cov", "full,none,none", "", &hex::encode(known.sha256))],
        methods: "\"client-cert\", \"token\", \"source-ip\"",
        connect_ports: vec![origin.addr.port()],
        ..Opts::default()
    })
    .await;
    Setup {
        proxy,
        server,
        devices,
        known,
        origin,
        origin_pki,
    }
}

/// A client trusting the proxy's CA, presenting `cert` (PEM certificate and key).
fn client(server: &Pki, cert: Option<(&str, &str)>) -> Arc<rustls::ClientConfig> {
    init_crypto();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(server.ca_der.clone()).unwrap();
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    Arc::new(match cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
    })
}

async fn open(s: &Setup, config: Arc<rustls::ClientConfig>) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(s.proxy.tls_addr.unwrap()).await.unwrap();
    let name = ServerName::try_from("proxy.test").unwrap();
    let mut tls = tokio::time::timeout(DEADLINE, TlsConnector::from(config).connect(name, tcp))
        .await
        .expect("handshake in time")?;
    // TLS 1.3: a refused client certificate shows on the first read, not in connect.
    tls.flush().await?;
    Ok(tls)
}

async fn ask(tls: &mut TlsStream<TcpStream>, request: &str) -> std::io::Result<Response> {
    tls.write_all(request.as_bytes()).await?;
    Ok(read_response(tls, request.starts_with("CONNECT") || request.starts_with("HEAD")).await)
}

fn connect_req(target: &str, auth: Option<(&str, &str)>) -> String {
    let creds = auth
        .map(|(d, t)| format!("Proxy-Authorization: {}\r\n", basic(d, t)))
        .unwrap_or_default();
    format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{creds}\r\n")
}

#[tokio::test]
async fn a_known_device_certificate_is_blocked_as_covered() {
    let s = setup().await;
    let cfg = client(&s.server, Some((&s.known.cert_pem, &s.known.key_pem)));
    let mut tls = open(&s, cfg).await.expect("handshake");
    let resp = ask(&mut tls, &connect_req("www.tiktok.com:443", None)).await.unwrap();
    assert_eq!(resp.status, 403);
    let e = s.proxy.event(&resp.event_id()).await;
    assert_eq!(e["event"]["action"], "blocked");
    assert_eq!(e["device"]["id"], "cert-cov");
    assert_eq!(e["labels"]["coverage"], "covered");
    assert_eq!(e["labels"]["identity"], "client-cert");
    assert_eq!(e["labels"]["listener"], "tls");
}

#[tokio::test]
async fn tunnels_and_plain_http_run_inside_tls() {
    let s = setup().await;
    let origin_http = HttpOrigin::start().await;
    let cfg = client(&s.server, Some((&s.known.cert_pem, &s.known.key_pem)));
    // CONNECT to an allowed origin, then TLS inside TLS to it.
    let mut outer = open(&s, cfg.clone()).await.expect("handshake");
    let target = format!("origin.test:{}", s.origin.addr.port());
    let resp = ask(&mut outer, &connect_req(&target, None)).await.unwrap();
    assert_eq!(resp.status, 200);
    let mut inner = tls_over(outer, &s.origin_pki, "origin.test")
        .await
        .expect("inner handshake");
    inner
        .write_all(b"GET / HTTP/1.1\r\nHost: origin.test\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_response(&mut inner, false).await.text(), "hello");
    drop(inner);
    let e = s
        .proxy
        .event_where(|e| e["event"]["action"] == "allowed" && e["labels"]["listener"] == "tls")
        .await;
    assert_eq!(e["labels"]["identity"], "client-cert");
    assert!(e["destination"]["bytes"].as_u64().unwrap() > 0);

    // Plain HTTP, twice on one connection (keep-alive inside TLS).
    let mut tls = open(&s, cfg).await.expect("handshake");
    let url = format!("http://origin.test:{}/x", origin_http.addr.port());
    let host = format!("origin.test:{}", origin_http.addr.port());
    for _ in 0..2 {
        let resp = ask(&mut tls, &get(&url, &host, None, "")).await.unwrap();
        assert_eq!(resp.status, 200, "{resp:?}");
    }
}

#[tokio::test]
async fn an_unknown_certificate_is_refused_with_407() {
    let s = setup().await;
    let stranger = ca::issue_device(&s.devices.cert_pem, &s.devices.key_pem, "nobody").unwrap();
    let cfg = client(&s.server, Some((&stranger.cert_pem, &stranger.key_pem)));
    let mut tls = open(&s, cfg).await.expect("handshake: it chains");
    let resp = ask(&mut tls, &connect_req("www.tiktok.com:443", None)).await.unwrap();
    assert_eq!(resp.status, 407);
    let e = s.proxy.event(&resp.event_id()).await;
    assert_eq!(e["event"]["action"], "auth_failed");
    assert_eq!(e["event"]["reason"], "credentials_invalid");
    assert_eq!(e["labels"]["identity"], "client-cert");
}

#[tokio::test]
async fn a_token_for_another_device_conflicts_with_the_certificate() {
    let s = setup().await;
    let cfg = client(&s.server, Some((&s.known.cert_pem, &s.known.key_pem)));
    let mut tls = open(&s, cfg).await.expect("handshake");
    let resp = ask(
        &mut tls,
        &connect_req("www.tiktok.com:443", Some(("fed-priv", "tok-priv"))),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 407);
    let e = s.proxy.event(&resp.event_id()).await;
    assert_eq!(e["event"]["reason"], "credentials_invalid");
    assert_eq!(e["labels"]["identity"], "client-cert");
}

#[tokio::test]
async fn without_a_certificate_the_token_applies() {
    let s = setup().await;
    let mut tls = open(&s, client(&s.server, None)).await.expect("handshake");
    let resp = ask(&mut tls, &connect_req("www.tiktok.com:443", None)).await.unwrap();
    assert_eq!(resp.status, 407, "no credential at all");
    let mut tls = open(&s, client(&s.server, None)).await.expect("handshake");
    let resp = ask(
        &mut tls,
        &connect_req("www.tiktok.com:443", Some(("fed-cov", "tok-cov"))),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 403);
    let e = s.proxy.event(&resp.event_id()).await;
    assert_eq!(e["labels"]["identity"], "token");
    assert_eq!(e["labels"]["listener"], "tls");
}

#[tokio::test]
async fn certificates_that_do_not_chain_or_have_expired_fail_the_handshake() {
    let s = setup().await;
    // Another CA's device certificate.
    let other = ca::devices_ca().unwrap();
    let foreign = ca::issue_device(&other.cert_pem, &other.key_pem, "cert-cov").unwrap();
    // An expired certificate from the right CA.
    let expired = expired_device(&s.devices);
    for (what, cert) in [("foreign", &foreign), ("expired", &expired)] {
        let cfg = client(&s.server, Some((&cert.cert_pem, &cert.key_pem)));
        let refused = match open(&s, cfg).await {
            Err(_) => true,
            Ok(mut tls) => {
                use tokio::io::AsyncReadExt;
                let _ = tls.write_all(connect_req("www.tiktok.com:443", None).as_bytes()).await;
                let mut buf = [0u8; 64];
                let read = tokio::time::timeout(DEADLINE, tls.read(&mut buf))
                    .await
                    .expect("answered in time");
                matches!(read, Err(_) | Ok(0))
            }
        };
        assert!(refused, "{what}: the handshake fails");
    }
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let failed: Vec<_> = s
            .proxy
            .events()
            .await
            .into_iter()
            .filter(|e| e["event"]["action"] == "auth_failed" && e["labels"]["identity"] == "client-cert")
            .collect();
        if failed.len() == 2 {
            assert!(failed
                .iter()
                .all(|e| e["event"]["reason"] == "credentials_invalid" && e["labels"]["listener"] == "tls"));
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{failed:#?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let text = s.proxy.metrics.encode();
    assert!(
        text.contains("slagboom_auth_failures_total{method=\"client-cert\"} 2"),
        "{text}"
    );
}

/// A device certificate of `devices` whose validity ended yesterday.
fn expired_device(devices: &ca::Issued) -> ca::Issued {
    let ca_key = rcgen::KeyPair::from_pem(&devices.key_pem).unwrap();
    let ca_cert = rcgen::CertificateParams::from_ca_cert_pem(&devices.cert_pem)
        .unwrap()
        .self_signed(&ca_key)
        .unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, "expired");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(30);
    params.not_after = now - time::Duration::days(1);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca_cert, &ca_key).unwrap();
    ca::Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        sha256: [0; 32],
    }
}

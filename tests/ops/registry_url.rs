//! A registry published at an `https://` URL: fetched at start, polled with
//! `If-None-Match`, refused when truncated, and never trusted without the right CA.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::admin::admin;
use crate::support::*;

/// An HTTPS server on 127.0.0.1 publishing one registry export with an `ETag`.
struct Publisher {
    addr: std::net::SocketAddr,
    csv: Arc<Mutex<String>>,
    not_modified: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Publisher {
    async fn start(pki: &Pki, csv: String) -> Publisher {
        use http_body_util::Full;
        use hyper::body::Bytes;
        use rustls::pki_types::PrivateKeyDer;
        init_crypto();
        let cfg = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![pki.leaf.clone()], PrivateKeyDer::Pkcs8(pki.leaf_key.clone_key()))
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let csv = Arc::new(Mutex::new(csv));
        let not_modified = Arc::new(AtomicUsize::new(0));
        let (c, nm) = (csv.clone(), not_modified.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { return };
                let (acceptor, c, nm) = (acceptor.clone(), c.clone(), nm.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let (c, nm) = (c.clone(), nm.clone());
                        async move {
                            let body = c.lock().unwrap().clone();
                            let etag = format!(
                                "\"{}\"",
                                hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(body.as_bytes())[..8])
                            );
                            let fresh =
                                req.headers().get("if-none-match").and_then(|v| v.to_str().ok()) == Some(etag.as_str());
                            let mut resp = if fresh {
                                nm.fetch_add(1, Ordering::SeqCst);
                                let mut r = hyper::Response::new(Full::new(Bytes::new()));
                                *r.status_mut() = hyper::StatusCode::NOT_MODIFIED;
                                r
                            } else {
                                hyper::Response::new(Full::new(Bytes::from(body)))
                            };
                            resp.headers_mut().insert("etag", etag.parse().unwrap());
                            resp.headers_mut().insert("content-type", "text/csv".parse().unwrap());
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Publisher {
            addr,
            csv,
            not_modified,
            task,
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_registry_is_polled_with_etags_and_never_truncated() {
    let pki = Pki::new(&["127.0.0.1"]);
    let csv = registry_csv();
    let publisher = Publisher::start(&pki, csv.clone()).await;
    let certs = tempfile::tempdir().unwrap();
    let ca = certs.path().join("registry-ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let run = Running::start(Opts {
        registry_source: format!("https://127.0.0.1:{}/exports/devices.csv", publisher.addr.port()),
        registry: format!("poll = \"200ms\"\nca_file = \"{}\"", ca.display()),
        ..Opts::default()
    });
    assert_eq!(tiktok_status(run.addr, "fed-priv", "tok-priv").await, 200);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        publisher.not_modified.load(Ordering::SeqCst) >= 2,
        "unchanged exports are answered 304"
    );

    let covered = csv.replace(
        "fed-priv,federal,Org of fed-priv,owner-fed-priv,none,none,none",
        "fed-priv,federal,Org of fed-priv,owner-fed-priv,full,none,none",
    );
    *publisher.csv.lock().unwrap() = covered.clone();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while tiktok_status(run.addr, "fed-priv", "tok-priv").await != 403 {
        assert!(tokio::time::Instant::now() < deadline, "the new export was not applied");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A truncated export is refused; the registry in force stays.
    *publisher.csv.lock().unwrap() = covered.lines().take(3).map(|l| format!("{l}\n")).collect();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let m = admin(run.admin, "GET", "/metrics", "").await.text();
        if m.contains("slagboom_reload_failures_total 1") || m.contains("slagboom_reload_failures_total 2") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{m}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(tiktok_status(run.addr, "fed-priv", "tok-priv").await, 403);
    assert_eq!(tiktok_status(run.addr, "fed-ret", "tok-ret").await, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_registry_server_fails_the_load() {
    let pki = Pki::new(&["127.0.0.1"]);
    let other = Pki::new(&["127.0.0.1"]);
    let publisher = Publisher::start(&pki, registry_csv()).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("wrong-ca.pem");
    std::fs::write(&ca, &other.ca_pem).unwrap();
    let cfg = write_config(
        dir.path(),
        &Opts {
            registry_source: format!("https://127.0.0.1:{}/devices.csv", publisher.addr.port()),
            registry: format!("ca_file = \"{}\"", ca.display()),
            ..Opts::default()
        },
    );
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_slagboom"))
            .args(["check", "-c", cfg.to_str().unwrap()])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("slagboom.toml:") && err.contains("registry source https://127.0.0.1:"),
        "{err}"
    );
    assert!(err.to_lowercase().contains("certificate"), "{err}");
}

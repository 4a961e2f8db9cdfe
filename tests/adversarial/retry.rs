//! A second ClientHello after a HelloRetryRequest (RFC 8446 §4.1.2), against a real
//! rustls origin that only accepts a key share the client did not send first: a real
//! client's retry passes untouched on both listeners, and a second ClientHello naming
//! another host is cut before the origin sees a byte of it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::{PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

use super::harness::{Bench, On};
use crate::support::*;

/// A TLS 1.3 origin whose only key exchange group is secp384r1, so a rustls client
/// (X25519 first) is always asked to retry. It records every byte it receives.
struct RetryOrigin {
    port: u16,
    received: Arc<Mutex<Vec<Vec<u8>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RetryOrigin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RetryOrigin {
    async fn start(pki: &Pki) -> RetryOrigin {
        let mut provider = rustls::crypto::ring::default_provider();
        provider.kx_groups = vec![rustls::crypto::ring::kx_group::SECP384R1];
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![pki.leaf.clone()], PrivateKeyDer::Pkcs8(pki.leaf_key.clone_key()))
            .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let seen = received.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let (config, seen) = (config.clone(), seen.clone());
                let index = {
                    let mut all = seen.lock().unwrap();
                    all.push(Vec::new());
                    all.len() - 1
                };
                tokio::spawn(async move {
                    let mut conn = rustls::ServerConnection::new(config).unwrap();
                    let mut buf = vec![0u8; 16_384];
                    let mut answered = false;
                    loop {
                        let n = match tokio::time::timeout(DEADLINE, s.read(&mut buf)).await {
                            Ok(Ok(n)) if n > 0 => n,
                            _ => return,
                        };
                        seen.lock().unwrap()[index].extend_from_slice(&buf[..n]);
                        let _ = conn.read_tls(&mut &buf[..n]);
                        let failed = conn.process_new_packets().is_err();
                        if !conn.is_handshaking() && !answered {
                            let mut request = [0u8; 1024];
                            if let Ok(k) = std::io::Read::read(&mut conn.reader(), &mut request) {
                                if k > 0 {
                                    let reply =
                                        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
                                    std::io::Write::write_all(&mut conn.writer(), reply).unwrap();
                                    answered = true;
                                }
                            }
                        }
                        let mut out = Vec::new();
                        while conn.wants_write() {
                            conn.write_tls(&mut out).unwrap();
                        }
                        if s.write_all(&out).await.is_err() || failed {
                            return;
                        }
                    }
                });
            }
        });
        RetryOrigin { port, received, task }
    }

    fn connections(&self) -> Vec<Vec<u8>> {
        self.received.lock().unwrap().clone()
    }
}

async fn tunnel(bench: &Bench, on: On, port: u16) -> Box<dyn Tunnel> {
    let target = match on {
        On::Explicit => bench.proxy.addr,
        On::Tls => bench.proxy.tls_addr.unwrap(),
    };
    let tcp = connect(target).await;
    let mut s: Box<dyn Tunnel> = match on {
        On::Explicit => Box::new(tcp),
        On::Tls => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(bench.server.ca_der.clone()).unwrap();
            let cfg = rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth();
            let name = ServerName::try_from("proxy.test").unwrap();
            Box::new(
                tokio_rustls::TlsConnector::from(Arc::new(cfg))
                    .connect(name, tcp)
                    .await
                    .unwrap(),
            )
        }
    };
    let head = format!(
        "CONNECT origin.test:{port} HTTP/1.1\r\nHost: origin.test:{port}\r\nProxy-Authorization: {}\r\n\r\n",
        basic("fed-cov", "tok-cov")
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.flush().await.unwrap();
    let resp = read_response(&mut s, true).await;
    assert_eq!(resp.status, 200);
    s
}

trait Tunnel: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Tunnel for T {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_retry_passes_and_a_switched_second_hello_is_cut() {
    let pki = Pki::new(&["origin.test"]);
    let origin = RetryOrigin::start(&pki).await;
    let bench = Bench::start_with(&[origin.port]).await;
    for on in [On::Explicit, On::Tls] {
        // A real client: the origin asks it to retry, it retries with the same name.
        let s = tunnel(&bench, on, origin.port).await;
        let mut tls = tls_over(s, &pki, "origin.test").await.expect("handshake with a retry");
        assert_eq!(
            tls.get_ref().1.handshake_kind(),
            Some(rustls::HandshakeKind::FullWithHelloRetryRequest),
            "the origin asked for a retry"
        );
        tls.write_all(b"GET / HTTP/1.1\r\nHost: origin.test\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(read_response(&mut tls, false).await.text(), "hello", "{on:?}");

        // A client that retries with another name: cut before the origin sees it.
        let before = origin.connections().len();
        let mut s = tunnel(&bench, on, origin.port).await;
        let first = client_hello_bytes(&pki, "origin.test");
        s.write_all(&first).await.unwrap();
        s.flush().await.unwrap();
        let mut retry = vec![0u8; 5];
        s.read_exact(&mut retry).await.unwrap();
        let len = usize::from(u16::from_be_bytes([retry[3], retry[4]]));
        let mut rest = vec![0u8; len];
        s.read_exact(&mut rest).await.unwrap();
        assert_eq!(retry[0], 22, "a HelloRetryRequest came back");
        let mut second = vec![20, 3, 3, 0, 1, 1];
        second.extend(client_hello_bytes(&pki, "www.tiktok.com"));
        s.write_all(&second).await.unwrap();
        s.flush().await.unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(DEADLINE, s.read_to_end(&mut answer)).await;
        assert!(
            answer.ends_with(&[21, 3, 3, 0, 2, 2, 47]),
            "{on:?}: illegal_parameter, got {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        let got = &origin.connections()[before];
        assert!(got.starts_with(&first), "{on:?}");
        assert!(
            !got.windows(14).any(|w| w == b"www.tiktok.com"),
            "{on:?}: the second hello reached the origin"
        );
        let e = bench
            .proxy
            .event_where(|e| {
                e["event"]["reason"] == "client_hello_invalid"
                    && e["tls"]["client"]["server_name"] == "www.tiktok.com"
                    && e["labels"]["listener"] == if on == On::Explicit { "explicit" } else { "tls" }
            })
            .await;
        assert_eq!(e["event"]["action"], "error");
        assert_eq!(e["destination"]["domain"], "origin.test");
        bench.still_serves("after a switched retry").await;
    }
}

//! The adversarial suite's harness: one proxy with both client-facing listeners of this
//! process (the explicit port and the HTTPS proxy port), origins that count and record
//! what reaches them, and a runner that plays a case on a listener and checks the
//! exact answer, what reached the origins, the event, and that the proxy still serves.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::TlsConnector;

use crate::support::*;

/// A client-facing listener a case runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    /// `listen`: the explicit proxy over plain TCP.
    Explicit,
    /// `tls_listen`: the same protocol inside TLS.
    Tls,
}

pub const BOTH: &[On] = &[On::Explicit, On::Tls];

/// One step of what the client sends.
#[derive(Debug, Clone)]
pub enum Step {
    /// Text with placeholders (see [`Bench::fill`]).
    Text(String),
    Bytes(Vec<u8>),
    /// Text with placeholders and bytes after it, in one write.
    Joined(String, Vec<u8>),
    /// Bytes one write at a time, `n` bytes each.
    Trickle(Vec<u8>, usize),
    Pause(u64),
    /// Half-close the client's side.
    Shutdown,
}

/// The answer a case expects.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// One HTTP response with this status and, when given, this `Proxy-Status` error.
    Status(u16, Option<&'static str>),
    /// The same, with no content (a `HEAD` answer).
    StatusNoBody(u16),
    /// Several pipelined responses, in order.
    Statuses(Vec<u16>),
    /// `200 Connection established`, then a TLS alert with this description.
    Alert(u8),
    /// `200 Connection established`, then a close without any byte.
    ClosedAfter200,
    /// 400 or 403 and nothing else (names whose refusal may come from either layer).
    Refused,
    /// A 200 whose body, running until the close, is exactly this.
    CloseDelimited(&'static str),
    /// `200 Connection established`, and the silent origin received exactly the
    /// client's bytes after the CONNECT head.
    Forwarded,
}

/// Whether a case may reach an origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Untouched,
    Any,
}

/// One adversarial case.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: &'static str,
    pub kind: &'static str,
    pub on: &'static [On],
    pub steps: Vec<Step>,
    pub expect: Expect,
    /// The event written: action, and reason when given.
    pub event: Option<(&'static str, Option<&'static str>)>,
    pub origin: Origin,
    /// Connect from this loopback address (identity by address).
    pub from: Option<&'static str>,
    /// A string that must appear in no answer and no event (a credential).
    pub secret: Option<&'static str>,
    /// A string that must not appear in the answer (reflected input, an origin's bytes
    /// that are no part of a response).
    pub absent: Option<&'static str>,
}

impl Case {
    pub fn new(kind: &'static str, name: &'static str, steps: Vec<Step>, expect: Expect) -> Case {
        Case {
            name,
            kind,
            on: BOTH,
            steps,
            expect,
            event: None,
            origin: Origin::Untouched,
            from: None,
            secret: None,
            absent: None,
        }
    }

    pub fn absent(mut self, s: &'static str) -> Case {
        self.absent = Some(s);
        self
    }

    pub fn event(mut self, action: &'static str, reason: Option<&'static str>) -> Case {
        self.event = Some((action, reason));
        self
    }

    pub fn origin(mut self, origin: Origin) -> Case {
        self.origin = origin;
        self
    }

    pub fn from(mut self, source: &'static str) -> Case {
        self.from = Some(source);
        self
    }

    pub fn secret(mut self, secret: &'static str) -> Case {
        self.secret = Some(secret);
        self
    }
}

/// Text steps: one.
pub fn text(s: &str) -> Vec<Step> {
    vec![Step::Text(s.to_owned())]
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// The proxy and its origins.
pub struct Bench {
    pub proxy: Proxy,
    /// An origin answering fixed bytes by path (see [`ScriptedOrigin`]).
    pub scripted: ScriptedOrigin,
    pub http: HttpOrigin,
    pub tls: TlsOrigin,
    pub silent: SilentOrigin,
    pub pki: Pki,
    /// The proxy's own certificate (the HTTPS proxy port).
    pub server: Pki,
    /// The admin port named in the configuration (not served in-process; refused as a
    /// destination all the same).
    pub admin_port: u16,
}

/// A free loopback port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Bench {
    pub async fn start() -> Bench {
        Bench::start_with(&[]).await
    }

    /// A bench whose proxy also allows CONNECT to `ports`.
    pub async fn start_with(ports: &[u16]) -> Bench {
        let pki = Pki::new(&["origin.test", "www.example.org"]);
        let server = Pki::new(&["proxy.test"]);
        let http = HttpOrigin::start().await;
        let tls = TlsOrigin::start(&pki).await;
        let silent = SilentOrigin::start().await;
        let scripted = ScriptedOrigin::start().await;
        let port = free_port();
        let admin_port = free_port();
        let proxy = Proxy::start_on(
            Opts {
                proxy: "tls_listen = \"127.0.0.2:0\"\ntls_cert = \"proxy.pem\"\ntls_key = \"proxy-key.pem\"\n".into(),
                limits: "header_timeout = \"1s\"\nclient_hello_timeout = \"1s\"\nconnect_timeout = \"500ms\"\n".into(),
                files: vec![
                    ("proxy.pem".into(), server.leaf_pem.clone().into_bytes()),
                    ("proxy-key.pem".into(), server.key_pem.clone().into_bytes()),
                ],
                connect_ports: [
                    http.addr.port(),
                    tls.addr.port(),
                    silent.addr.port(),
                    scripted.port,
                    port,
                    admin_port,
                ]
                .into_iter()
                .chain(ports.iter().copied())
                .collect(),
                admin_listen: format!("127.0.0.1:{admin_port}"),
                // The origins' address only: the rest of loopback stays refused.
                allow: "\"127.0.0.1/32\"",
                overrides: vec![
                    ("metadata.test", "169.254.169.254"),
                    ("cgnat.test", "100.64.0.1"),
                    ("v6loop.test", "::1"),
                    ("mapped.test", "::ffff:127.0.0.2"),
                ],
                names: vec!["www.example.org".into()],
                ..Opts::default()
            },
            &format!("127.0.0.1:{port}"),
        )
        .await;
        Bench {
            proxy,
            scripted,
            http,
            tls,
            silent,
            pki,
            server,
            admin_port,
        }
    }

    /// Replaces the placeholders of a text step: `{auth}` (a covered device's
    /// `Proxy-Authorization` line), `{priv}` (a private device's), `{http}`, `{tls}`,
    /// `{silent}` (origin ports), `{self}` (the proxy's port), `{admin}` (its admin port).
    pub fn fill(&self, s: &str) -> String {
        s.replace(
            "{auth}",
            &format!("Proxy-Authorization: {}\r\n", basic("fed-cov", "tok-cov")),
        )
        .replace(
            "{priv}",
            &format!("Proxy-Authorization: {}\r\n", basic("fed-priv", "tok-priv")),
        )
        .replace("{http}", &self.http.addr.port().to_string())
        .replace("{tls}", &self.tls.addr.port().to_string())
        .replace("{silent}", &self.silent.addr.port().to_string())
        .replace("{scripted}", &self.scripted.port.to_string())
        .replace("{self}", &self.proxy.addr.port().to_string())
        .replace("{admin}", &self.admin_port.to_string())
    }

    fn origin_connections(&self) -> (usize, usize, usize) {
        (
            self.http.connections.load(std::sync::atomic::Ordering::SeqCst),
            self.tls.connection_count(),
            self.silent.connection_count(),
        )
    }

    /// Opens a client connection on `on` (from `source`); returns it and the source port
    /// the proxy sees.
    async fn open(&self, on: On, source: Option<&str>) -> (Pin<Box<dyn Stream>>, u16) {
        let target = match on {
            On::Explicit => self.proxy.addr,
            On::Tls => self.proxy.tls_addr.unwrap(),
        };
        let tcp = match source {
            Some(s) => connect_from(target, s).await,
            None => connect(target).await,
        };
        let port = tcp.local_addr().unwrap().port();
        match on {
            On::Explicit => (Box::pin(tcp), port),
            On::Tls => {
                let mut roots = rustls::RootCertStore::empty();
                roots.add(self.server.ca_der.clone()).unwrap();
                let cfg = rustls::ClientConfig::builder()
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                let name = ServerName::try_from("proxy.test").unwrap();
                let tls = TlsConnector::from(Arc::new(cfg)).connect(name, tcp).await.unwrap();
                (Box::pin(tls), port)
            }
        }
    }

    /// Plays `case` on `on` and checks everything it expects.
    pub async fn run(&self, case: &Case, on: On) {
        let what = format!("{} {} on {on:?}", case.kind, case.name);
        let before = self.origin_connections();
        let silent_before = self.silent.connection_count();
        let events_before = self.proxy.events().await.len();
        let (mut s, port) = self.open(on, case.from).await;
        let mut sent_after_head: Vec<u8> = Vec::new();
        let mut past_head = false;
        for step in &case.steps {
            let bytes = match step {
                Step::Text(t) => self.fill(t).into_bytes(),
                Step::Bytes(b) => b.clone(),
                Step::Joined(t, b) => {
                    let mut all = self.fill(t).into_bytes();
                    all.extend_from_slice(b);
                    all
                }
                Step::Trickle(b, n) => {
                    for chunk in b.chunks(*n) {
                        if s.write_all(chunk).await.is_err() {
                            break;
                        }
                        let _ = s.flush().await;
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    sent_after_head.extend_from_slice(b);
                    continue;
                }
                Step::Pause(ms) => {
                    tokio::time::sleep(Duration::from_millis(*ms)).await;
                    continue;
                }
                Step::Shutdown => {
                    let _ = s.shutdown().await;
                    continue;
                }
            };
            if past_head {
                sent_after_head.extend_from_slice(&bytes);
            } else if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
                past_head = true;
                sent_after_head.extend_from_slice(&bytes[end + 4..]);
            }
            let _ = s.write_all(&bytes).await;
            let _ = s.flush().await;
        }
        let answer = match case.expect {
            Expect::Forwarded => {
                // The origin keeps the tunnel open: read the 200, then close.
                let mut head = vec![0u8; 39];
                let _ = tokio::time::timeout(DEADLINE, s.read_exact(&mut head)).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
                drop(s);
                head
            }
            _ => read_all(&mut s).await,
        };
        let shown = String::from_utf8_lossy(&answer).into_owned();
        check_answer(&what, &case.expect, &answer);
        if let Some(secret) = case.secret {
            assert!(
                !shown.contains(secret),
                "{what}: the answer echoes a credential: {shown}"
            );
        }
        if let Some(absent) = case.absent {
            assert!(!shown.contains(absent), "{what}: the answer holds {absent:?}: {shown}");
        }
        if case.expect == Expect::Forwarded {
            let (got, _) = self.silent.connection(silent_before).await;
            assert_eq!(got, sent_after_head, "{what}: forwarded bytes differ");
        } else if case.origin == Origin::Untouched {
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert_eq!(self.origin_connections(), before, "{what}: an origin was reached");
        }
        if let Some((action, reason)) = case.event {
            let e = self.event_of(port, events_before, action, reason, &what).await;
            let text = e.to_string();
            if let Some(secret) = case.secret {
                assert!(!text.contains(secret), "{what}: the event holds a credential: {text}");
            }
            let listener = match on {
                On::Explicit => "explicit",
                On::Tls => "tls",
            };
            assert_eq!(e["labels"]["listener"], listener, "{what}: {e}");
        }
        self.still_serves(&what).await;
    }

    /// The event of the connection from `port` with `action` (and `reason`).
    async fn event_of(&self, port: u16, after: usize, action: &str, reason: Option<&str>, what: &str) -> Value {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let events = self.proxy.events().await;
            let mine: Vec<&Value> = events
                .iter()
                .skip(after)
                .filter(|e| e["source"]["port"] == port)
                .collect();
            if let Some(e) = mine
                .iter()
                .find(|e| e["event"]["action"] == action && reason.is_none_or(|r| e["event"]["reason"] == r))
            {
                return (*e).clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: no {action}/{reason:?} event; its events: {mine:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A plain request through the explicit port still gets through.
    pub async fn still_serves(&self, what: &str) {
        let url = format!("http://origin.test:{}/alive", self.http.addr.port());
        let host = format!("origin.test:{}", self.http.addr.port());
        let resp = raw(self.proxy.addr, &get(&url, &host, Some(("fed-priv", "tok-priv")), "")).await;
        assert_eq!(resp.status, 200, "{what}: the proxy stopped serving");
    }
}

/// An origin that answers each request with fixed bytes chosen by its path, then
/// closes: responses no well-behaved origin sends.
pub struct ScriptedOrigin {
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ScriptedOrigin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The scripted answers, by path.
fn script(path: &str) -> &'static [u8] {
    match path {
        "/early-hints" => b"HTTP/1.1 103 Early Hints\r\nLink: </x.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        "/no-content-with-body" => b"HTTP/1.1 204 No Content\r\nContent-Length: 11\r\n\r\nSMUGGLED-XY",
        "/not-modified" => b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 11\r\n\r\nSMUGGLED-XY",
        "/length-and-chunked" => b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        "/close-delimited" => b"HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\nthe body runs until the close",
        "/bad-chunk" => b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nSMUGGLED-XY\r\n0\r\n\r\n",
        _ => b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    }
}

impl ScriptedOrigin {
    async fn start() -> ScriptedOrigin {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tokio::time::timeout(DEADLINE, s.read(&mut buf)).await {
                            Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
                            _ => return,
                        }
                    }
                    let line = String::from_utf8_lossy(&head).into_owned();
                    let path = line.split(' ').nth(1).unwrap_or("/").to_owned();
                    let _ = s.write_all(script(&path)).await;
                    let _ = s.shutdown().await;
                });
            }
        });
        ScriptedOrigin { port, task }
    }
}

impl SilentOrigin {
    /// The bytes of connection `n` (counting from 0) once it has ended.
    pub async fn connection(&self, n: usize) -> (Vec<u8>, Ended) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            if let Some(got) = self.nth(n) {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "origin connection {n} did not end"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn read_all<S: AsyncRead + Unpin + ?Sized>(s: &mut S) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return out,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// Splits pipelined responses: (status, Proxy-Status error, body length) each.
fn responses(bytes: &[u8]) -> Vec<(u16, Option<String>, usize)> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&rest[..end]).into_owned();
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let field = |name: &str| {
            head.lines()
                .find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case(name)))
                .map(|(_, v)| v.trim().to_owned())
        };
        let error = field("proxy-status").and_then(|v| {
            v.split(';')
                .find_map(|p| p.trim().strip_prefix("error=").map(str::to_owned))
        });
        let len: usize = field("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        let body = (rest.len() - end - 4).min(len);
        out.push((status, error, body));
        rest = &rest[(end + 4 + body).min(rest.len())..];
        if len == 0 && !head.starts_with("HTTP/1.1 200 Connection established") {
            // HEAD answers keep their Content-Length without content.
            if let Some(next) = rest.windows(5).position(|w| w == b"HTTP/") {
                rest = &rest[next..];
            }
        }
        if head.starts_with("HTTP/1.1 200 Connection established") {
            break;
        }
    }
    out
}

const ESTABLISHED: &[u8] = b"HTTP/1.1 200 Connection established\r\n\r\n";

fn check_answer(what: &str, expect: &Expect, answer: &[u8]) {
    let shown = String::from_utf8_lossy(answer);
    match expect {
        Expect::Status(status, error) => {
            let got = responses(answer);
            assert_eq!(got.len(), 1, "{what}: one response, got {shown:?}");
            assert_eq!(got[0].0, *status, "{what}: {shown:?}");
            if let Some(e) = error {
                assert_eq!(got[0].1.as_deref(), Some(*e), "{what}: {shown:?}");
            }
        }
        Expect::StatusNoBody(status) => {
            let end = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("a head") + 4;
            assert!(shown.starts_with(&format!("HTTP/1.1 {status} ")), "{what}: {shown:?}");
            assert_eq!(answer.len(), end, "{what}: content after a HEAD answer: {shown:?}");
        }
        Expect::Statuses(want) => {
            let got: Vec<u16> = responses(answer).iter().map(|r| r.0).collect();
            assert_eq!(&got, want, "{what}: {shown:?}");
        }
        Expect::Alert(description) => {
            assert!(answer.starts_with(ESTABLISHED), "{what}: {shown:?}");
            let rest = &answer[ESTABLISHED.len()..];
            assert_eq!(
                rest,
                [21, 3, 3, 0, 2, 2, *description],
                "{what}: after the 200: {rest:?}"
            );
        }
        Expect::ClosedAfter200 => {
            assert_eq!(answer, ESTABLISHED, "{what}: {shown:?}");
        }
        Expect::Refused => {
            let got = responses(answer);
            assert_eq!(got.len(), 1, "{what}: {shown:?}");
            assert!(got[0].0 == 400 || got[0].0 == 403, "{what}: {shown:?}");
        }
        Expect::Forwarded => {
            assert!(answer.starts_with(ESTABLISHED), "{what}: {shown:?}");
        }
        Expect::CloseDelimited(body) => {
            assert!(shown.starts_with("HTTP/1.1 200 "), "{what}: {shown:?}");
            let (head, rest) = shown.split_once("\r\n\r\n").unwrap_or_default();
            assert!(
                head.to_ascii_lowercase().contains("connection: close"),
                "{what}: {shown:?}"
            );
            assert_eq!(rest, *body, "{what}");
        }
    }
}

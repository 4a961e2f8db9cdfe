//! Sentence-like helpers for the integration tests: a throw-away PKI, a TLS origin and
//! an HTTP origin on loopback, a proxy started in-process on port 0 with a registry of
//! test devices, and readers for its events. Everything binds 127.0.0.1 only and is
//! stopped when the test ends (tasks are aborted with their runtime; the proxy drains).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use serde_json::Value;
use sha2::{Digest, Sha256};
use slagboom::events::EventLog;
use slagboom::proxy::{Phase, Server};
use slagboom::state::{Snapshot, State};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Bound for every wait in these tests.
pub const DEADLINE: Duration = Duration::from_secs(10);

pub fn init_crypto() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A CA and one leaf certificate for the test names.
pub struct Pki {
    pub ca_pem: String,
    pub leaf_pem: String,
    pub key_pem: String,
    pub ca_der: CertificateDer<'static>,
    pub leaf: CertificateDer<'static>,
    pub leaf_key: PrivatePkcs8KeyDer<'static>,
}

impl Pki {
    pub fn new(names: &[&str]) -> Pki {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "slagboom test CA");
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let params = rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let leaf = params.signed_by(&key, &ca, &ca_key).unwrap();
        Pki {
            ca_pem: ca.pem(),
            leaf_pem: leaf.pem(),
            key_pem: key.serialize_pem(),
            ca_der: ca.der().clone(),
            leaf: leaf.der().clone(),
            leaf_key: PrivatePkcs8KeyDer::from(key.serialize_der()),
        }
    }

    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        init_crypto();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_der.clone()).unwrap();
        Arc::new(
            rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }

    fn server_config(&self) -> Arc<rustls::ServerConfig> {
        init_crypto();
        let cfg = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![self.leaf.clone()], PrivateKeyDer::Pkcs8(self.leaf_key.clone_key()))
            .unwrap();
        Arc::new(cfg)
    }
}

/// A TLS origin: answers any request with `200 hello` and records each connection's SNI.
pub struct TlsOrigin {
    pub addr: SocketAddr,
    pub connections: Arc<AtomicUsize>,
    pub snis: Arc<Mutex<Vec<Option<String>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl TlsOrigin {
    pub async fn start(pki: &Pki) -> TlsOrigin {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = TlsAcceptor::from(pki.server_config());
        let connections = Arc::new(AtomicUsize::new(0));
        let snis = Arc::new(Mutex::new(Vec::new()));
        let (c, s) = (connections.clone(), snis.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                c.fetch_add(1, Ordering::SeqCst);
                let (acceptor, s) = (acceptor.clone(), s.clone());
                tokio::spawn(async move {
                    let Ok(Ok(mut tls)) = tokio::time::timeout(DEADLINE, acceptor.accept(stream)).await else {
                        return;
                    };
                    s.lock().unwrap().push(tls.get_ref().1.server_name().map(str::to_owned));
                    let mut buf = vec![0u8; 4096];
                    let mut got = Vec::new();
                    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tokio::time::timeout(DEADLINE, tls.read(&mut buf)).await {
                            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
                            _ => return,
                        }
                    }
                    let _ = tls
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
                        .await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        TlsOrigin {
            addr,
            connections,
            snis,
            task,
        }
    }

    pub fn connection_count(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for TlsOrigin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A plain HTTP origin built on hyper: echoes the request (method, path, headers, body
/// length) as JSON, so tests can see exactly what the proxy forwarded.
pub struct HttpOrigin {
    pub addr: SocketAddr,
    pub connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl HttpOrigin {
    pub async fn start() -> HttpOrigin {
        use http_body_util::{BodyExt, Full};
        use hyper::body::Bytes;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let c = connections.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                c.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                        let method = req.method().to_string();
                        let path = req.uri().to_string();
                        let headers: Vec<(String, String)> = req
                            .headers()
                            .iter()
                            .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                            .collect();
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let echo = serde_json::json!({
                            "method": method, "path": path, "headers": headers,
                            "body_len": body.len(), "body_sha256": hex::encode(Sha256::digest(&body)),
                        });
                        let mut resp = hyper::Response::new(Full::new(Bytes::from(echo.to_string())));
                        resp.headers_mut().insert("x-origin", "hyper".parse().unwrap());
                        resp.headers_mut()
                            .insert("connection", "keep-alive, x-hop".parse().unwrap());
                        resp.headers_mut().insert("x-hop", "must-not-pass".parse().unwrap());
                        Ok::<_, std::convert::Infallible>(resp)
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        HttpOrigin {
            addr,
            connections,
            task,
        }
    }
}

impl Drop for HttpOrigin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Set in a test's second run, inside the namespace [`ran_unshared`] made.
const INSIDE_NETNS: &str = "SLAGBOOM_TEST_INSIDE_NETNS";

/// Runs the test `name` (its path in this binary, e.g. `dns::some_test`) again in a
/// network namespace of its own (`unshare --net --map-root-user`), with its loopback up
/// and nothing else. Returns false in that second run, where the caller does the work;
/// returns true in the first run once the second has passed, and fails the test when it
/// failed. The namespace ends with the process that made it, whatever happens.
pub async fn ran_in_own_netns(name: &str) -> bool {
    if ran_unshared(name, &["--net"]).await {
        return true;
    }
    netns_cmd(&["ip", "link", "set", "lo", "up"]);
    false
}

/// The same with a mount namespace of its own (`unshare --mount`, mounts private):
/// what the test mounts there is gone when it ends.
pub async fn ran_in_own_mountns(name: &str) -> bool {
    ran_unshared(name, &["--mount", "--propagation", "private"]).await
}

async fn ran_unshared(name: &str, namespaces: &[&str]) -> bool {
    if std::env::var_os(INSIDE_NETNS).is_some() {
        return false;
    }
    let exe = std::env::current_exe().unwrap();
    let mut child = tokio::process::Command::new("unshare")
        .args(namespaces)
        .args(["--map-root-user", "--"])
        .arg(exe)
        .args([name, "--exact", "--nocapture"])
        .env(INSIDE_NETNS, "1")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("unshare (util-linux) runs");
    let status = tokio::time::timeout(Duration::from_secs(120), child.wait())
        .await
        .expect("the test inside its namespace finishes in 120 s (killed otherwise)")
        .unwrap();
    assert!(
        status.success(),
        "the test inside its namespace failed ({status}); it needs root or unprivileged \
         user namespaces for `unshare {} --map-root-user`",
        namespaces.join(" ")
    );
    true
}

/// Runs a command inside the test's own network namespace; fails the test if it fails.
pub fn netns_cmd(args: &[&str]) {
    assert!(
        std::env::var_os(INSIDE_NETNS).is_some(),
        "only inside the test's own namespace"
    );
    let status = Command::new(args[0]).args(&args[1..]).status().expect("iproute2 runs");
    assert!(status.success(), "{args:?}: {status}");
}

/// How an origin connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The proxy closed cleanly (FIN).
    Closed,
    /// The proxy reset the connection.
    Reset,
    /// Still open when the test stopped waiting.
    Open,
}

/// What one origin connection received so far, and how it ended (once it has).
type OriginConnection = tokio::sync::watch::Receiver<(Vec<u8>, Option<Ended>)>;

/// An origin that reads requests and never answers: it records every byte it receives
/// and how each connection ended, so a test can see what the proxy let through.
pub struct SilentOrigin {
    pub addr: SocketAddr,
    connections: Arc<Mutex<Vec<OriginConnection>>>,
    task: tokio::task::JoinHandle<()>,
}

impl SilentOrigin {
    pub async fn start() -> SilentOrigin {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(Mutex::new(Vec::new()));
        let c = connections.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let (tx, rx) = tokio::sync::watch::channel((Vec::new(), None));
                c.lock().unwrap().push(rx);
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let ended = loop {
                        match tokio::time::timeout(DEADLINE, stream.read(&mut buf)).await {
                            Ok(Ok(0)) => break Ended::Closed,
                            Ok(Ok(n)) => tx.send_modify(|(got, _)| got.extend_from_slice(&buf[..n])),
                            Ok(Err(_)) => break Ended::Reset,
                            Err(_) => break Ended::Open,
                        }
                    };
                    tx.send_modify(|(_, e)| *e = Some(ended));
                });
            }
        });
        SilentOrigin {
            addr,
            connections,
            task,
        }
    }

    /// The bytes the first connection received and how it ended, once it has ended.
    pub async fn first_connection(&self) -> (Vec<u8>, Ended) {
        let deadline = tokio::time::Instant::now() + DEADLINE * 2;
        let mut rx = loop {
            if let Some(rx) = self.connections.lock().unwrap().first().cloned() {
                break rx;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no connection reached the origin"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let seen = tokio::time::timeout_at(deadline, rx.wait_for(|(_, e)| e.is_some()))
            .await
            .expect("origin connection ends")
            .unwrap();
        (seen.0.clone(), seen.1.unwrap_or(Ended::Open))
    }
}

impl SilentOrigin {
    /// The bytes of connection `n` (from 0) and how it ended, once it has ended.
    pub fn nth(&self, n: usize) -> Option<(Vec<u8>, Ended)> {
        let rx = self.connections.lock().unwrap().get(n).cloned()?;
        let seen = rx.borrow();
        seen.1.map(|e| (seen.0.clone(), e))
    }

    /// Connections accepted so far.
    pub fn connection_count(&self) -> usize {
        self.connections.lock().unwrap().len()
    }
}

impl Drop for SilentOrigin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Test devices: (id, authority, shares "purchase,subscription,usage", professional_use,
/// token, addresses, status).
pub const DEVICES: &[(&str, &str, &str, &str, &str, &str, &str)] = &[
    ("fed-cov", "federal", "full,none,none", "false", "tok-cov", "", "active"),
    ("fed-adv", "federal", "none,none,none", "true", "tok-adv", "", "active"),
    (
        "fed-priv",
        "federal",
        "none,none,none",
        "false",
        "tok-priv",
        "",
        "active",
    ),
    (
        "vl-cov",
        "flanders",
        "none,partial,none",
        "false",
        "tok-vl",
        "",
        "active",
    ),
    ("fut-cov", "future", "full,full,full", "false", "tok-fut", "", "active"),
    ("past-cov", "past", "full,full,full", "false", "tok-past", "", "active"),
    (
        "fed-ret",
        "federal",
        "full,none,none",
        "false",
        "tok-ret",
        "",
        "retired",
    ),
    ("fed-lost", "federal", "full,none,none", "false", "tok-lost", "", "lost"),
    (
        "fed-ip",
        "federal",
        "full,none,none",
        "false",
        "",
        "127.0.0.3",
        "active",
    ),
    (
        "fed-ip-adv",
        "federal",
        "none,none,none",
        "true",
        "",
        "127.0.0.4",
        "active",
    ),
];

pub fn registry_csv() -> String {
    let mut out = String::from(
        "device_id,authority,organisation,owner,purchase,subscription,usage,professional_use,token_sha256,cert_sha256,addresses,status\n",
    );
    for (id, auth, shares, pro, token, addrs, status) in DEVICES {
        let hash = if token.is_empty() {
            String::new()
        } else {
            hex::encode(Sha256::digest(token.as_bytes()))
        };
        out.push_str(&format!(
            "{id},{auth},Org of {id},owner-{id},{shares},{pro},{hash},,{addrs},{status}\n"
        ));
    }
    out
}

const TEST_RULESET: &str = r#"
id = "test"
title = "Test ruleset"
domains = ["bücher.example", "blocked.test"]
exact = ["exact-only.test"]
patterns = ['v\d+-pattern\.test']
cidrs = ["192.0.2.0/24"]
"#;

/// Knobs for one proxy.
#[derive(Clone)]
pub struct Opts {
    /// Extra `[proxy]` lines.
    pub proxy: String,
    /// `[proxy.limits]` lines.
    pub limits: String,
    pub unknown_device: &'static str,
    pub privacy: String,
    /// Extra `[log]` lines.
    pub log: String,
    /// `[log] spool_dir` (default `spool`, beside the configuration).
    pub spool_dir: String,
    /// Hosts mapped to 127.0.0.1 besides the defaults.
    pub names: Vec<String>,
    /// Hosts mapped to other addresses: (name, address).
    pub overrides: Vec<(&'static str, &'static str)>,
    /// Extra `[[log.sink]]` tables (after the `events.jsonl` file sink).
    pub sinks: String,
    /// Extra `[[log.sink]]` tables before the `events.jsonl` file sink.
    pub sinks_before: String,
    /// Extra sections at the end of the file (`[pac]`, `[admin]` keys are separate).
    pub extra: String,
    /// Extra `[admin]` lines.
    pub admin: String,
    /// `[admin] listen` (default `127.0.0.1:1`, never bound by these tests).
    pub admin_listen: String,
    /// `[registry] source` (default: the generated `devices.csv`).
    pub registry_source: String,
    /// `[registry]` lines after `source`.
    pub registry: String,
    pub connect_ports: Vec<u16>,
    /// Files written beside the configuration: (name, content); names ending in
    /// `-key.pem` get mode 0600.
    pub files: Vec<(String, Vec<u8>)>,
    /// Extra registry rows: (device id, authority, shares, professional_use, token,
    /// cert_sha256 hex).
    pub devices: Vec<[String; 6]>,
    /// `[auth] methods`, as TOML array items.
    pub methods: &'static str,
    /// `[proxy] allow_destinations`, as TOML array items.
    pub allow: &'static str,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            proxy: String::new(),
            limits: String::new(),
            unknown_device: "deny",
            privacy: "allowed_detail = \"host\"".into(),
            log: String::new(),
            spool_dir: "spool".into(),
            names: Vec::new(),
            overrides: Vec::new(),
            sinks: String::new(),
            sinks_before: String::new(),
            extra: String::new(),
            admin: String::new(),
            admin_listen: "127.0.0.1:1".into(),
            registry_source: "devices.csv".into(),
            registry: String::new(),
            connect_ports: Vec::new(),
            files: Vec::new(),
            devices: Vec::new(),
            methods: "\"token\", \"source-ip\"",
            allow: "\"127.0.0.0/8\"",
        }
    }
}

const NAMES: &[&str] = &[
    "origin.test",
    "www.tiktok.com",
    "tiktok.com",
    "m.tiktok.com",
    "nottiktok.com",
    "tiktok.com.example.org",
    "www.xn--bcher-kva.example",
    "blocked.test",
    "exact-only.test",
    "sub.exact-only.test",
    "v16-pattern.test",
];

/// Writes a complete configuration directory (config, registry, rules) and returns the
/// config path.
pub fn write_config(dir: &Path, opts: &Opts) -> PathBuf {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    for f in ["tiktok.toml", "bytedance-shared.toml"] {
        std::fs::copy(shipped.join(f), rules.join(f)).unwrap();
    }
    std::fs::write(rules.join("test.toml"), TEST_RULESET).unwrap();
    let mut registry = registry_csv();
    for [id, authority, shares, pro, token, cert] in &opts.devices {
        let hash = if token.is_empty() {
            String::new()
        } else {
            hex::encode(Sha256::digest(token.as_bytes()))
        };
        registry.push_str(&format!(
            "{id},{authority},Org of {id},owner-{id},{shares},{pro},{hash},{cert},,active\n"
        ));
    }
    std::fs::write(dir.join("devices.csv"), registry).unwrap();
    for (name, content) in &opts.files {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, content).unwrap();
        if name.ends_with("-key.pem") {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }
    let names: Vec<String> = NAMES
        .iter()
        .map(|s| s.to_string())
        .chain(opts.names.iter().cloned())
        .map(|n| format!("\"{n}\" = \"127.0.0.1\""))
        .chain(opts.overrides.iter().map(|(n, a)| format!("\"{n}\" = \"{a}\"")))
        .collect();
    let mut ports = vec![443, 8443];
    ports.extend(&opts.connect_ports);
    let text = format!(
        r#"
[proxy]
name = "test-proxy"
listen = "127.0.0.1:0"
connect_ports = {ports:?}
allow_destinations = [{allow}]
dns_overrides = {{ {names} }}
{proxy}

[proxy.limits]
{limits}

[admin]
listen = "{admin_listen}"
{admin}

[registry]
source = "{registry_source}"
{registry}

[auth]
methods = [{methods}]
unknown_device = "{unknown}"

[[policy]]
id = "fed"
title = "Federal ban"
authorities = ["federal"]
rulesets = ["tiktok", "test"]
covered = "block"
advisory = "warn"
private = "allow"
effective_from = "2023-03-10T00:00:00+01:00"
review_by = "2023-09-10T00:00:00+02:00"
reference = "National Security Council decision, 2023-03-10"

[[policy]]
id = "vl"
title = "Flemish ban"
authorities = ["flanders"]
rulesets = ["tiktok"]
covered = "block"
advisory = "warn"
private = "allow"
effective_from = "2023-03-09T00:00:00+01:00"
reference = "Flemish decision, 2023-03-09"

[[policy]]
id = "future"
title = "Not yet"
authorities = ["future"]
rulesets = ["tiktok"]
covered = "block"
advisory = "block"
private = "block"
effective_from = "2099-01-01T00:00:00+01:00"
reference = "future"

[[policy]]
id = "past"
title = "Expired"
authorities = ["past"]
rulesets = ["tiktok"]
covered = "block"
advisory = "block"
private = "block"
effective_from = "2020-01-01T00:00:00+01:00"
expires = "2021-01-01T00:00:00+01:00"
reference = "past"

[block_page]
contact = "Helpdesk <ext. 1234>"

[log]
spool_dir = "{spool_dir}"
{log}

{sinks_before}

[[log.sink]]
name = "file-1"
type = "file"
path = "events.jsonl"

{sinks}

[privacy]
{privacy}

{extra}
"#,
        names = names.join(", "),
        proxy = opts.proxy,
        limits = opts.limits,
        unknown = opts.unknown_device,
        methods = opts.methods,
        allow = opts.allow,
        log = opts.log,
        spool_dir = opts.spool_dir,
        privacy = opts.privacy,
        sinks = opts.sinks,
        sinks_before = opts.sinks_before,
        extra = opts.extra,
        admin = opts.admin,
        admin_listen = opts.admin_listen,
        registry = opts.registry,
        registry_source = opts.registry_source,
    );
    let path = dir.join("slagboom.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The block-page CA `slagboom ca init` makes for the test configuration's policies.
pub fn block_ca() -> slagboom::tls::ca::Issued {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &Opts::default());
    let snap = Snapshot::load_without_keys(&path).unwrap();
    slagboom::tls::ca::block_page_ca(&slagboom::tls::ca::constraints(&snap)).unwrap()
}

/// `opts` with `[intercept]` on the CA `ca`.
pub fn intercepting(ca: &slagboom::tls::ca::Issued, mut opts: Opts) -> Opts {
    opts.files
        .push(("block-ca.pem".into(), ca.cert_pem.clone().into_bytes()));
    opts.files
        .push(("block-ca-key.pem".into(), ca.key_pem.clone().into_bytes()));
    opts.extra
        .push_str("\n[intercept]\nca_cert = \"block-ca.pem\"\nca_key = \"block-ca-key.pem\"\nleaf_lifetime = \"2d\"\n");
    opts
}

/// A client that trusts the block-page CA alone.
pub fn trusting(ca_pem: &str) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    init_crypto();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    let mut cfg = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(cfg)
}

/// A proxy running in this process on 127.0.0.1:0.
pub struct Proxy {
    pub addr: SocketAddr,
    /// The HTTPS proxy port, when the configuration has `tls_listen` (bound on
    /// 127.0.0.2:0 here).
    pub tls_addr: Option<SocketAddr>,
    pub metrics: Arc<slagboom::metrics::Metrics>,
    pub dir: tempfile::TempDir,
    phase: watch::Sender<Phase>,
    task: Option<tokio::task::JoinHandle<()>>,
    events: EventLog,
}

impl Proxy {
    pub async fn start(opts: Opts) -> Proxy {
        Proxy::start_on(opts, "127.0.0.1:0").await
    }

    /// A proxy listening on `listen` (tests in a network namespace of their own may
    /// use a wildcard address).
    pub async fn start_on(opts: Opts, listen: &str) -> Proxy {
        let dir = tempfile::tempdir().unwrap();
        let path = write_config(dir.path(), &opts);
        let snap = Snapshot::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let metrics = Arc::new(slagboom::metrics::Metrics::new());
        let events = EventLog::start(&snap.config.log, metrics.clone()).unwrap();
        let (phase, rx) = watch::channel(Phase::Running);
        let with_tls = snap.tls_listen.is_some();
        let state = Arc::new(State::new(snap));
        let server = Server::bind(
            state,
            events.clone(),
            metrics.clone(),
            Some(listen.parse().unwrap()),
            rx,
        )
        .await
        .unwrap();
        let addr = server.local_addr().unwrap();
        let (tls_addr, tls) = if with_tls {
            let listener = slagboom::proxy::bind_reuse("127.0.0.2:0".parse().unwrap()).unwrap();
            let tls = server.tls_beside(listener);
            (Some(tls.local_addr().unwrap()), Some(tls))
        } else {
            (None, None)
        };
        let task = tokio::spawn(async move {
            match tls {
                Some(tls) => {
                    tokio::join!(server.serve(), tls.serve());
                }
                None => server.serve().await,
            }
        });
        Proxy {
            addr,
            tls_addr,
            metrics,
            dir,
            phase,
            task: Some(task),
            events,
        }
    }

    /// Every event written so far.
    pub async fn events(&self) -> Vec<Value> {
        let _ = tokio::time::timeout(DEADLINE, self.events.flush_sink("file-1")).await;
        let text = std::fs::read_to_string(self.dir.path().join("events.jsonl")).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// The first event matching `pred`, waiting for it (bounded).
    pub async fn event_where(&self, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            if let Some(e) = self.events().await.into_iter().find(|e| pred(e)) {
                return e;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no matching event; events: {:#?}",
                self.events().await
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The event with this id.
    pub async fn event(&self, id: &str) -> Value {
        self.event_where(|e| e["event"]["id"] == id).await
    }

    /// Stops accepting, lets open connections finish, and waits for the server task.
    pub async fn stop(mut self) {
        let _ = self.phase.send(Phase::Draining);
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(DEADLINE, task).await;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.phase.send(Phase::Closing);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The status of `CONNECT www.tiktok.com:443` for a device: 403 when TikTok is
/// blocked for it, 200 when allowed.
pub async fn tiktok_status(addr: SocketAddr, device: &str, token: &str) -> u16 {
    let req = format!(
        "CONNECT www.tiktok.com:443 HTTP/1.1\r\nHost: www.tiktok.com:443\r\nProxy-Authorization: {}\r\n\r\n",
        basic(device, token)
    );
    let mut s = connect(addr).await;
    s.write_all(req.as_bytes()).await.unwrap();
    read_response(&mut s, true).await.status
}

pub fn basic(device: &str, token: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{device}:{token}"))
    )
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn event_id(&self) -> String {
        self.header("slagboom-event-id").expect("Slagboom-Event-Id").to_owned()
    }
}

/// Reads one response head (and, unless `head_only`, its Content-Length body) from `s`,
/// keeping any extra bytes out: reads byte by byte up to the head.
pub async fn read_response<S: AsyncRead + Unpin>(s: &mut S, head_only: bool) -> Response {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(DEADLINE, s.read(&mut byte))
            .await
            .expect("response in time")
            .unwrap();
        assert!(
            n == 1,
            "connection closed before the response head; got {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let text = String::from_utf8(head).unwrap();
    let mut lines = text.split("\r\n");
    let status: u16 = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    let mut resp = Response {
        status,
        headers,
        body: Vec::new(),
    };
    if head_only {
        return resp;
    }
    if let Some(len) = resp.header("content-length").map(|v| v.parse::<usize>().unwrap()) {
        let mut body = vec![0u8; len];
        tokio::time::timeout(DEADLINE, s.read_exact(&mut body))
            .await
            .unwrap()
            .unwrap();
        resp.body = body;
    } else if resp
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        resp.body = read_chunked(s).await;
    } else {
        tokio::time::timeout(DEADLINE, s.read_to_end(&mut resp.body))
            .await
            .unwrap()
            .unwrap();
    }
    resp
}

async fn read_chunked<S: AsyncRead + Unpin>(s: &mut S) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    while !all.ends_with(b"0\r\n\r\n") {
        let n = tokio::time::timeout(DEADLINE, s.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "chunked body cut short");
        all.extend_from_slice(&buf[..n]);
    }
    // De-chunk.
    let mut out = Vec::new();
    let mut rest = &all[..];
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(
            std::str::from_utf8(&rest[..line_end])
                .unwrap()
                .split(';')
                .next()
                .unwrap(),
            16,
        )
        .unwrap();
        rest = &rest[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// Connects to the proxy.
pub async fn connect(proxy: SocketAddr) -> TcpStream {
    let s = tokio::time::timeout(DEADLINE, TcpStream::connect(proxy))
        .await
        .unwrap()
        .unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Connects to the proxy from a chosen loopback source address.
pub async fn connect_from(proxy: SocketAddr, source: &str) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    let s = tokio::time::timeout(DEADLINE, socket.connect(proxy))
        .await
        .unwrap()
        .unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Sends raw bytes on a new connection and reads one response.
pub async fn raw(proxy: SocketAddr, request: &str) -> Response {
    let mut s = connect(proxy).await;
    s.write_all(request.as_bytes()).await.unwrap();
    read_response(&mut s, request.starts_with("CONNECT ")).await
}

/// The `Proxy-Authorization` header line for optional credentials.
fn credentials(auth: Option<(&str, &str)>) -> String {
    auth.map(|(d, t)| format!("Proxy-Authorization: {}\r\n", basic(d, t)))
        .unwrap_or_default()
}

/// A proxied `GET url` request head with optional credentials and extra header lines.
pub fn get(url: &str, host: &str, auth: Option<(&str, &str)>, extra: &str) -> String {
    let creds = credentials(auth);
    format!("GET {url} HTTP/1.1\r\nHost: {host}\r\n{creds}{extra}\r\n")
}

/// `CONNECT target` with optional credentials; returns the stream and the response.
pub async fn connect_tunnel(proxy: SocketAddr, target: &str, auth: Option<(&str, &str)>) -> (TcpStream, Response) {
    let mut s = connect(proxy).await;
    let creds = credentials(auth);
    let req = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{creds}\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let resp = read_response(&mut s, true).await;
    (s, resp)
}

/// A TLS client over an established tunnel, with SNI `name` (an IP address gives no SNI).
pub async fn tls_over<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    pki: &Pki,
    name: &str,
) -> std::io::Result<tokio_rustls::client::TlsStream<S>> {
    let connector = TlsConnector::from(pki.client_config());
    let server_name = ServerName::try_from(name.to_owned()).unwrap();
    tokio::time::timeout(DEADLINE, connector.connect(server_name, stream))
        .await
        .unwrap()
}

/// The raw ClientHello bytes a rustls client sends for `name`.
pub fn client_hello_bytes(pki: &Pki, name: &str) -> Vec<u8> {
    let server_name = ServerName::try_from(name.to_owned()).unwrap();
    let mut conn = rustls::ClientConnection::new(pki.client_config(), server_name).unwrap();
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).unwrap();
    }
    out
}

/// Re-frames a single-record handshake into records of at most `size` payload bytes.
pub fn split_records(hello: &[u8], size: usize) -> Vec<u8> {
    assert_eq!(hello[0], 22);
    let len = u16::from_be_bytes([hello[3], hello[4]]) as usize;
    let payload = &hello[5..5 + len];
    let mut out = Vec::new();
    for chunk in payload.chunks(size) {
        out.extend_from_slice(&[22, hello[1], hello[2]]);
        out.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

/// Reads until the peer closes; returns what arrived.
pub async fn read_to_close<S: AsyncRead + Unpin>(s: &mut S) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(DEADLINE, s.read_to_end(&mut out))
        .await
        .expect("closed in time");
    out
}

/// A `slagboom run` child on a free port; killed by PID on drop.
pub struct Running {
    pub child: Child,
    pub addr: std::net::SocketAddr,
    pub admin: std::net::SocketAddr,
    pub dir: tempfile::TempDir,
}

impl Running {
    pub fn start(opts: Opts) -> Running {
        Self::start_with_nofile(opts, 0)
    }

    /// Starts with `ulimit -n` set to `nofile` (0: unchanged).
    pub fn start_with_nofile(opts: Opts, nofile: u32) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let cfg = write_config(dir.path(), &opts);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let admin_port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let admin: std::net::SocketAddr = format!("127.0.0.1:{admin_port}").parse().unwrap();
        let text = std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("listen = \"127.0.0.1:0\"", &format!("listen = \"{addr}\""))
            .replace("listen = \"127.0.0.1:1\"", &format!("listen = \"{admin}\""));
        std::fs::write(&cfg, text).unwrap();
        let child = spawn(&cfg, addr, nofile);
        Running {
            child,
            addr,
            admin,
            dir,
        }
    }

    /// Starts the same configuration again (same spool) after the child ended.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn(&self.dir.path().join("slagboom.toml"), self.addr, 0);
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    #[allow(clippy::disallowed_methods)] // called inside block_in_place
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn events(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.path().join("events.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `slagboom run -c cfg` (under `ulimit -n nofile` when not 0) and waits until
/// it listens on `addr`.
#[allow(clippy::disallowed_methods)] // synchronous start-up wait
fn spawn(cfg: &Path, addr: std::net::SocketAddr, nofile: u32) -> Child {
    let bin = env!("CARGO_BIN_EXE_slagboom");
    let mut cmd = if nofile == 0 {
        let mut c = Command::new(bin);
        c.args(["run", "-c", cfg.to_str().unwrap()]);
        c
    } else {
        let mut c = Command::new("bash");
        c.arg("-c")
            .arg(format!("ulimit -n {nofile} && exec {bin} run -c {}", cfg.display()));
        c
    };
    // Operational logs go to `stderr.log` beside the configuration (appended across
    // restarts), for tests that read them and for a failing test's investigator.
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(cfg.with_file_name("stderr.log"))
        .unwrap();
    let child = cmd.stdout(Stdio::null()).stderr(log).spawn().unwrap();
    let deadline = Instant::now() + DEADLINE;
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "proxy did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

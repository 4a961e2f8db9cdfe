//! Collector faults for every sink type over TCP (SPEC §8): a TCP front between the
//! proxy and a real collector (rsyslog over TLS and RELP, the HTTP stand-ins for Splunk
//! HEC and Elasticsearch) first accepts and never reads, then resets connections in the
//! middle of batches, then behaves. A gap checker compares every id the clients saw
//! with what the collector got: duplicates are allowed, gaps are not.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::collector::*;
use crate::support::*;

/// What the front does with one accepted connection.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Accepts, reads nothing for this long, then resets.
    Stall(Duration),
    /// Relays this many bytes from the proxy, then resets both sides.
    ResetAfter(usize),
}

/// A TCP relay to `backend` whose first connections fail as scripted; later ones relay.
struct FaultyFront {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultyFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn reset(s: TcpStream) {
    let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
    drop(s);
}

impl FaultyFront {
    async fn start(backend: SocketAddr, script: Vec<Fault>) -> FaultyFront {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut script = script.into_iter();
            while let Ok((client, _)) = listener.accept().await {
                let fault = script.next();
                tokio::spawn(async move {
                    match fault {
                        Some(Fault::Stall(d)) => {
                            tokio::time::sleep(d).await;
                            reset(client);
                        }
                        Some(Fault::ResetAfter(n)) => {
                            let Ok(mut up) = TcpStream::connect(backend).await else {
                                return;
                            };
                            let mut client = client;
                            let (mut moved, mut buf) = (0usize, vec![0u8; 4096]);
                            let (mut cr, mut cw) = client.split();
                            let (mut ur, mut uw) = up.split();
                            let upward = async {
                                while moved < n {
                                    let want = (n - moved).min(buf.len());
                                    match cr.read(&mut buf[..want]).await {
                                        Ok(k) if k > 0 => {
                                            if uw.write_all(&buf[..k]).await.is_err() {
                                                return;
                                            }
                                            moved += k;
                                        }
                                        _ => return,
                                    }
                                }
                            };
                            let downward = async {
                                let _ = tokio::io::copy(&mut ur, &mut cw).await;
                            };
                            tokio::select! {
                                _ = upward => {}
                                _ = downward => {}
                            }
                            // Let the collector answer what it got, then cut.
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            reset(client);
                            reset(up);
                        }
                        None => {
                            let Ok(mut up) = TcpStream::connect(backend).await else {
                                return;
                            };
                            let mut client = client;
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut up).await;
                        }
                    }
                });
            }
        });
        FaultyFront { addr, task }
    }
}

fn script() -> Vec<Fault> {
    let mut s = vec![Fault::Stall(Duration::from_secs(3))];
    s.extend((0..5).map(|i| Fault::ResetAfter(3_000 + 4_111 * i)));
    s
}

fn sink_errors(proxy: &Proxy, sink: &str) -> u64 {
    let prefix = format!("slagboom_sink_errors_total{{sink=\"{sink}\"}} ");
    proxy
        .metrics
        .encode()
        .lines()
        .find_map(|l| l.strip_prefix(&prefix).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// Events in bursts, while the front misbehaves.
async fn bursts(proxy: &Proxy) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.extend(make_events(proxy.addr, 150).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syslog_over_tls_through_stalls_and_resets_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(&["127.0.0.1", "localhost"]);
    let rsyslog = Rsyslog::tls(dir.path(), free_port(), &pki);
    let front = FaultyFront::start(format!("127.0.0.1:{}", rsyslog.port).parse().unwrap(), script()).await;
    let proxy = Proxy::start(Opts {
        sinks: format!(
            "[[log.sink]]\nname = \"siem\"\ntype = \"syslog\"\nformat = \"ecs\"\naddress = \"127.0.0.1:{}\"\ntransport = \"tls\"\nca_file = \"{}\"\n",
            front.addr.port(),
            dir.path().join("ca.pem").display()
        ),
        log: "sink_stall_timeout = \"1s\"".into(),
        ..Opts::default()
    })
    .await;
    let ids = bursts(&proxy).await;
    rsyslog.wait_for(&ids, Duration::from_secs(60)).await;
    assert!(sink_errors(&proxy, "siem") >= 2, "the faults were noticed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relp_through_stalls_and_resets_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let rsyslog = Rsyslog::relp(dir.path(), free_port());
    let front = FaultyFront::start(format!("127.0.0.1:{}", rsyslog.port).parse().unwrap(), script()).await;
    let proxy = Proxy::start(Opts {
        sinks: format!(
            "[[log.sink]]\nname = \"relp\"\ntype = \"syslog\"\nformat = \"rfc5424\"\naddress = \"127.0.0.1:{}\"\ntransport = \"relp\"\n",
            front.addr.port()
        ),
        log: "sink_stall_timeout = \"1s\"".into(),
        ..Opts::default()
    })
    .await;
    let ids = bursts(&proxy).await;
    rsyslog.wait_for(&ids, Duration::from_secs(60)).await;
    assert!(sink_errors(&proxy, "relp") >= 2, "the faults were noticed");
}

/// The ids in an HTTP sink's requests (HEC envelopes or `_bulk` documents).
fn http_ids(reqs: &[Received]) -> HashSet<String> {
    let mut ids = HashSet::new();
    for r in reqs {
        for v in serde_json::Deserializer::from_slice(&r.body)
            .into_iter::<Value>()
            .flatten()
        {
            let id = v["event"]["event"]["id"].as_str().or_else(|| v["event"]["id"].as_str());
            if let Some(id) = id {
                ids.insert(id.to_owned());
            }
        }
    }
    ids
}

async fn http_case(flavour: &str, path: &str) {
    let collector = HttpCollector::start(Arc::new(|_, r: &Received| {
        if r.path.ends_with("_bulk") {
            // Every item created.
            let n = r.body.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count() / 2;
            let items: Vec<String> = (0..n).map(|_| "{\"create\":{\"status\":201}}".to_owned()).collect();
            (200, format!("{{\"errors\":false,\"items\":[{}]}}", items.join(",")))
        } else {
            (200, "{\"text\":\"Success\",\"code\":0}".into())
        }
    }))
    .await;
    let front = FaultyFront::start(collector.addr, script()).await;
    let keys = tempfile::tempdir().unwrap();
    std::fs::write(keys.path().join("token"), "t0ken\n").unwrap();
    let proxy = Proxy::start(Opts {
        sinks: format!(
            "[[log.sink]]\nname = \"siem\"\ntype = \"http\"\nflavour = \"{flavour}\"\nurl = \"http://{}{path}\"\ntoken_file = \"{}\"\nindex = \"logs-slagboom\"\nbatch_events = 40\nbatch_timeout = \"50ms\"\n",
            front.addr,
            keys.path().join("token").display()
        ),
        log: "sink_stall_timeout = \"1s\"".into(),
        ..Opts::default()
    })
    .await;
    let ids = bursts(&proxy).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let got = http_ids(&collector.requests());
        let missing = ids.iter().filter(|id| !got.contains(*id)).count();
        if missing == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{flavour}: {missing} of {} never delivered",
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(sink_errors(&proxy, "siem") >= 2, "{flavour}: the faults were noticed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splunk_hec_through_stalls_and_resets_loses_nothing() {
    http_case("splunk-hec", "/services/collector/event").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elastic_bulk_through_stalls_and_resets_loses_nothing() {
    http_case("elastic-bulk", "").await;
}

//! Receivers for the SIEM tests: a private rsyslog (its own config, pid file, work
//! directory and a port on 127.0.0.1; the system syslog is never touched), and a
//! recording HTTP server.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use crate::support::*;

const RSYSLOGD: &str = "/usr/sbin/rsyslogd";

/// A free port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A loopback port that refuses every connection and that nobody else can take while
/// this lives: bound, never listening.
pub struct DeadPort {
    _socket: socket2::Socket,
    pub port: u16,
}

impl DeadPort {
    pub fn new() -> DeadPort {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket
            .bind(&"127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into())
            .unwrap();
        let port = socket.local_addr().unwrap().as_socket().unwrap().port();
        DeadPort { _socket: socket, port }
    }
}

/// A private rsyslogd writing every message's raw text, one per line, to `out`.
pub struct Rsyslog {
    child: Option<Child>,
    pub port: u16,
    pub out: PathBuf,
    conf: PathBuf,
    pid: PathBuf,
}

impl Rsyslog {
    /// Plain TCP (`imtcp`, octet counting detected).
    pub fn tcp(dir: &Path, port: u16) -> Rsyslog {
        Self::start(dir, port, None, false)
    }

    /// TLS through the gtls driver with the test PKI's server certificate.
    pub fn tls(dir: &Path, port: u16, pki: &Pki) -> Rsyslog {
        Self::start(dir, port, Some(pki), false)
    }

    /// RELP (`imrelp`). The main queue is direct, so a message is in the output file
    /// before its RELP answer leaves: what rsyslog acknowledged survives its `kill -9`.
    pub fn relp(dir: &Path, port: u16) -> Rsyslog {
        Self::start(dir, port, None, true)
    }

    fn start(dir: &Path, port: u16, pki: Option<&Pki>, relp: bool) -> Rsyslog {
        assert!(
            Path::new(RSYSLOGD).exists(),
            "rsyslogd is not installed: run `make deps` (or scripts/test-deps.sh) first"
        );
        let work = dir.join("rsyslog-work");
        std::fs::create_dir_all(&work).unwrap();
        let out = dir.join("rsyslog-out.log");
        let mut conf = String::new();
        let mut module = "module(load=\"imtcp\")".to_owned();
        if let Some(pki) = pki {
            for (name, pem) in [
                ("ca.pem", &pki.ca_pem),
                ("cert.pem", &pki.leaf_pem),
                ("key.pem", &pki.key_pem),
            ] {
                std::fs::write(dir.join(name), pem).unwrap();
            }
            conf.push_str(&format!(
                "global(workDirectory=\"{w}\" DefaultNetstreamDriver=\"gtls\" DefaultNetstreamDriverCAFile=\"{d}/ca.pem\" \
                 DefaultNetstreamDriverCertFile=\"{d}/cert.pem\" DefaultNetstreamDriverKeyFile=\"{d}/key.pem\")\n",
                w = work.display(),
                d = dir.display()
            ));
            module = "module(load=\"imtcp\" StreamDriver.Name=\"gtls\" StreamDriver.Mode=\"1\" StreamDriver.AuthMode=\"anon\")".into();
        } else {
            conf.push_str(&format!("global(workDirectory=\"{}\")\n", work.display()));
        }
        let input = if relp {
            module = "module(load=\"imrelp\")\nmain_queue(queue.type=\"Direct\")".into();
            format!("input(type=\"imrelp\" port=\"{port}\" address=\"127.0.0.1\")")
        } else {
            format!("input(type=\"imtcp\" port=\"{port}\" address=\"127.0.0.1\")")
        };
        conf.push_str(&format!(
            "{module}\n{input}\n\
             template(name=\"raw\" type=\"string\" string=\"%rawmsg%\\n\")\n\
             *.* action(type=\"omfile\" file=\"{}\" template=\"raw\")\n",
            out.display()
        ));
        let conf_path = dir.join("rsyslog.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut r = Rsyslog {
            child: None,
            port,
            out,
            conf: conf_path,
            pid: dir.join("rsyslog.pid"),
        };
        r.restart();
        r
    }

    /// Starts (again) with the same configuration and output file.
    #[allow(clippy::disallowed_methods)] // synchronous wait for the port
    pub fn restart(&mut self) {
        let _ = std::fs::remove_file(&self.pid);
        let child = Command::new(RSYSLOGD)
            .arg("-n")
            .arg("-f")
            .arg(&self.conf)
            .arg("-i")
            .arg(&self.pid)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + DEADLINE;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "rsyslogd did not listen on {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills it by PID with SIGKILL, mid-stream, and waits.
    pub fn kill_9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").args(["-9", &child.id().to_string()]).status();
            let _ = child.wait();
        }
    }

    /// Stops it by PID (SIGTERM, then SIGKILL) and waits.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
                #[allow(clippy::disallowed_methods)]
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every message received so far (raw, one per line).
    pub fn messages(&self) -> Vec<String> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Waits until every id appears in some message; returns the messages.
    pub async fn wait_for(&self, ids: &[String], within: Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let msgs = self.messages();
            let missing: Vec<&String> = ids
                .iter()
                .filter(|id| !msgs.iter().any(|m| m.contains(id.as_str())))
                .collect();
            if missing.is_empty() {
                return msgs;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} of {} events never reached rsyslog, e.g. {:?}",
                missing.len(),
                ids.len(),
                missing.first()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Makes `n` events quickly: CONNECTs without credentials, each answered 407 with an
/// `auth_failed` event. Returns the event ids.
pub async fn make_events(proxy: std::net::SocketAddr, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = connect(proxy).await;
        s.write_all(b"CONNECT origin.test:443 HTTP/1.1\r\nHost: origin.test:443\r\n\r\n")
            .await
            .unwrap();
        let resp = read_response(&mut s, false).await;
        assert_eq!(resp.status, 407);
        ids.push(resp.event_id());
    }
    ids
}

/// One request an HTTP collector received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How the collector answers a request: status and body.
pub type Answer = Arc<dyn Fn(usize, &Received) -> (u16, String) + Send + Sync>;

/// A recording HTTP server on 127.0.0.1 (hyper), standing in for Splunk HEC or
/// Elasticsearch, which cannot run here.
pub struct HttpCollector {
    pub addr: std::net::SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl HttpCollector {
    pub async fn start(answer: Answer) -> HttpCollector {
        use http_body_util::{BodyExt, Full};
        use hyper::body::Bytes;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let rec = received.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (rec, answer) = (rec.clone(), answer.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let (rec, answer) = (rec.clone(), answer.clone());
                        async move {
                            let method = req.method().to_string();
                            let path = req.uri().to_string();
                            let headers = req
                                .headers()
                                .iter()
                                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                                .collect();
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes().to_vec())
                                .unwrap_or_default();
                            let r = Received {
                                method,
                                path,
                                headers,
                                body,
                            };
                            let (status, text) = {
                                let mut all = rec.lock().unwrap();
                                let answer = answer(all.len(), &r);
                                all.push(r);
                                answer
                            };
                            let mut resp = hyper::Response::new(Full::new(Bytes::from(text)));
                            *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        HttpCollector { addr, received, task }
    }

    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for HttpCollector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

//! Transparent mode on a small network of the test's own (SPEC §6a): three network
//! namespaces joined by veth pairs, with addresses the test picks:
//!
//! ```text
//! client 10.77.1.2, .3, .4 --veth-- 10.77.1.1 gateway 10.77.2.1 --veth-- 10.77.2.2 origin
//!        fd00:77:1::2               fd00:77:1::1 ... fd00:77:2::1          fd00:77:2::2
//!                                   slagboom on [::]:3130; nat PREROUTING
//!                                   REDIRECT of TCP 80 and 443 (IPv4, IPv6)
//! ```
//!
//! The origin runs a TLS and a plain HTTP server (Python's standard library) that log
//! every connection; the clients are `curl` and `bash`. slagboom is the real binary.
//! Every namespace (and with it every veth and nat rule) is deleted when the test
//! ends, also when it fails; the processes it started are killed by PID. The test skips,
//! saying why, only when the kernel refuses to create namespaces.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

/// Namespaces named after this process, removed on drop.
struct Net {
    prefix: String,
    children: Vec<Child>,
}

impl Net {
    fn ns(&self, which: &str) -> String {
        format!("{}-{which}", self.prefix)
    }

    /// Runs `args` inside namespace `which`; its output, or the failure.
    fn exec(&self, which: &str, args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.ns(which)])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("ip netns exec runs")
    }

    fn run(&self, which: &str, args: &[&str]) {
        let out = self.exec(which, args);
        assert!(
            out.status.success(),
            "{which}: {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn spawn(&mut self, which: &str, args: &[&str], log: &Path) {
        let log = std::fs::File::create(log).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(which)])
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.children.push(child);
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for which in ["client", "gw", "origin"] {
            // Anything still running inside (a process keeps its namespace alive).
            if let Ok(out) = Command::new("ip").args(["netns", "pids", &self.ns(which)]).output() {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
            }
            let _ = Command::new("ip").args(["netns", "del", &self.ns(which)]).status();
        }
    }
}

/// Builds the three namespaces, or says why it cannot.
fn build() -> Result<Net, String> {
    let net = Net {
        prefix: format!("sbt{}", std::process::id()),
        children: Vec::new(),
    };
    for which in ["client", "gw", "origin"] {
        let out = Command::new("ip").args(["netns", "add", &net.ns(which)]).output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => return Err(String::from_utf8_lossy(&o.stderr).into_owned()),
            Err(e) => return Err(e.to_string()),
        }
    }
    let (c, g, o) = (net.ns("client"), net.ns("gw"), net.ns("origin"));
    let ip = |args: &[&str]| {
        let status = Command::new("ip").args(args).status().unwrap();
        assert!(status.success(), "ip {args:?}");
    };
    ip(&[
        "link", "add", "sbc0", "netns", &c, "type", "veth", "peer", "name", "sbg0", "netns", &g,
    ]);
    ip(&[
        "link", "add", "sbg1", "netns", &g, "type", "veth", "peer", "name", "sbo0", "netns", &o,
    ]);
    for (which, cmds) in [
        (
            "client",
            vec![
                vec!["ip", "addr", "add", "10.77.1.2/24", "dev", "sbc0"],
                vec!["ip", "addr", "add", "10.77.1.3/24", "dev", "sbc0"],
                vec!["ip", "addr", "add", "10.77.1.4/24", "dev", "sbc0"],
                vec!["ip", "-6", "addr", "add", "fd00:77:1::2/64", "dev", "sbc0", "nodad"],
                vec!["ip", "link", "set", "sbc0", "up"],
                vec!["ip", "link", "set", "lo", "up"],
                vec!["ip", "route", "add", "default", "via", "10.77.1.1"],
                vec!["ip", "-6", "route", "add", "default", "via", "fd00:77:1::1"],
            ],
        ),
        (
            "gw",
            vec![
                vec!["ip", "addr", "add", "10.77.1.1/24", "dev", "sbg0"],
                vec!["ip", "addr", "add", "10.77.2.1/24", "dev", "sbg1"],
                vec!["ip", "-6", "addr", "add", "fd00:77:1::1/64", "dev", "sbg0", "nodad"],
                vec!["ip", "-6", "addr", "add", "fd00:77:2::1/64", "dev", "sbg1", "nodad"],
                vec!["ip", "link", "set", "sbg0", "up"],
                vec!["ip", "link", "set", "sbg1", "up"],
                vec!["ip", "link", "set", "lo", "up"],
                vec!["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"],
                vec!["sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1"],
                vec![
                    "ip6tables",
                    "-t",
                    "nat",
                    "-A",
                    "PREROUTING",
                    "-i",
                    "sbg0",
                    "-p",
                    "tcp",
                    "-m",
                    "multiport",
                    "--dports",
                    "80,443",
                    "-j",
                    "REDIRECT",
                    "--to-ports",
                    "3130",
                ],
                vec![
                    "iptables",
                    "-t",
                    "nat",
                    "-A",
                    "PREROUTING",
                    "-i",
                    "sbg0",
                    "-p",
                    "tcp",
                    "-m",
                    "multiport",
                    "--dports",
                    "80,443",
                    "-j",
                    "REDIRECT",
                    "--to-ports",
                    "3130",
                ],
            ],
        ),
        (
            "origin",
            vec![
                vec!["ip", "addr", "add", "10.77.2.2/24", "dev", "sbo0"],
                vec!["ip", "addr", "add", "10.77.2.3/24", "dev", "sbo0"],
                vec!["ip", "-6", "addr", "add", "fd00:77:2::2/64", "dev", "sbo0", "nodad"],
                vec!["ip", "link", "set", "sbo0", "up"],
                vec!["ip", "link", "set", "lo", "up"],
                vec!["ip", "route", "add", "default", "via", "10.77.2.1"],
                vec!["ip", "-6", "route", "add", "default", "via", "fd00:77:2::1"],
            ],
        ),
    ] {
        for cmd in cmds {
            net.run(which, &cmd);
        }
    }
    Ok(net)
}

/// A raw client: from SOURCE to HOST:PORT, sends each file in turn (a `.trickle` file
/// one byte per segment), reading what comes back after each; prints everything
/// received, hex.
const RAW_CLIENT: &str = r#"
import socket, sys, time
src, dst, files = sys.argv[1], sys.argv[2], sys.argv[3:]
host, port = dst.rsplit(":", 1)
s = socket.socket(); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.bind((src, 0)); s.settimeout(5); s.connect((host, int(port)))
got = b""
for f in files:
    data = open(f, "rb").read()
    if f.endswith(".trickle"):
        for b in data:
            s.send(bytes([b])); time.sleep(0.002)
    else:
        s.sendall(data)
    end = time.time() + 1.5
    while time.time() < end:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        got += chunk
        if f != files[-1] and len(got) > 5:
            time.sleep(0.2)
            try:
                s.settimeout(0.3); got += s.recv(65536); s.settimeout(5)
            except Exception:
                s.settimeout(5)
            break
print(got.hex())
"#;

/// The origin: TLS on 443 (the test PKI's certificate) and HTTP on 80, each logging
/// one line per connection (`tls <sni>` / `http <path>`).
const ORIGIN: &str = r#"
import http.server, socketserver, ssl, sys, threading
log = open(sys.argv[1], "a", buffering=1)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        log.write("http %s\n" % self.path)
        body = b"origin says hello"
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    def server_bind(self):
        # No reverse lookup of the address (HTTPServer's getfqdn): no DNS here.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "origin", self.server_address[1]
import socket
class S6(S):
    address_family = socket.AF_INET6
plain = S(("10.77.2.2", 80), H)
tls = S(("10.77.2.2", 443), H)
tls6 = S6(("fd00:77:2::2", 443), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[2], sys.argv[3])
def sni(sock, name, _):
    log.write("tls %s\n" % name)
ctx.sni_callback = sni
tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
tls6.socket = ctx.wrap_socket(tls6.socket, server_side=True)
# A TLS 1.3 origin whose only group is secp384r1: clients that send an X25519 key
# share first are asked to retry (HelloRetryRequest).
retry = S(("10.77.2.3", 443), H)
rctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
rctx.minimum_version = ssl.TLSVersion.TLSv1_3
rctx.load_cert_chain(sys.argv[2], sys.argv[3])
rctx.set_ecdh_curve("secp384r1")
rctx.sni_callback = sni
retry.socket = rctx.wrap_socket(retry.socket, server_side=True)
threading.Thread(target=retry.serve_forever, daemon=True).start()
threading.Thread(target=plain.serve_forever, daemon=True).start()
threading.Thread(target=tls6.serve_forever, daemon=True).start()
log.write("ready\n")
tls.serve_forever()
"#;

fn config(dir: &Path) -> PathBuf {
    let mut opts = Opts {
        proxy: "transparent_listen = \"[::]:3130\"\ntransparent_other = \"refuse-covered\"\nrequire_sni_for_covered = true".into(),
        extra: "[radius]\nlisten = \"0.0.0.0:1813\"\n[[radius.client]]\naddress = \"10.77.1.0/24\"\nsecret_file = \"radius.secret\"\n".into(),
        overrides: vec![("far.test", "10.77.9.9")],
        ..Opts::default()
    };
    opts.registry_source = "devices.csv".into();
    // Interception on: a blocked name gets the HTTPS block page when the client trusts
    // the block-page CA, and stays refused when it does not.
    let opts = intercepting(&block_ca(), opts);
    let cfg = write_config(dir, &opts);
    // The devices of this network: a covered one and a private one by address, and a
    // covered phone known only by its MAC (RADIUS binds its address).
    let csv = std::fs::read_to_string(dir.join("devices.csv"))
        .unwrap()
        .replacen(",addresses,status\n", ",addresses,status,macs\n", 1)
        .replace(",active\n", ",active,\n")
        .replace(",retired\n", ",retired,\n")
        .replace(",lost\n", ",lost,\n")
        + "net-cov,federal,Org,o1,full,none,none,false,,,10.77.1.2,active,\n\
           net-priv,federal,Org,o2,none,none,none,false,,,10.77.1.3,active,\n\
           net-phone,federal,Org,o3,full,none,none,false,,,,active,AA-BB-CC-DD-EE-04\n\
           net-v6,federal,Org,o4,full,none,none,false,,,fd00:77:1::2,active,\n";
    std::fs::write(dir.join("devices.csv"), csv).unwrap();
    std::fs::write(dir.join("radius.secret"), "testing123\n").unwrap();
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("listen = \"127.0.0.1:0\"", "listen = \"127.0.0.1:3128\"")
        .replace("listen = \"127.0.0.1:1\"", "listen = \"127.0.0.1:9090\"");
    std::fs::write(&cfg, text).unwrap();
    cfg
}

/// Waits (bounded) until `f` holds.
fn wait_until(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        #[allow(clippy::disallowed_methods)] // a plain test thread
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn events(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("events.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The first event (waiting for it) that matches.
fn event(dir: &Path, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    wait_until(what, || events(dir).iter().any(&pred));
    events(dir).into_iter().find(|e| pred(e)).unwrap()
}

fn curl(net: &Net, from: &str, args: &[&str], ca: &Path) -> std::process::Output {
    let mut all = vec![
        "curl",
        "-sS",
        "--max-time",
        "10",
        "--interface",
        from,
        "--cacert",
        ca.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    net.exec("client", &all)
}

#[test]
fn redirected_devices_are_identified_decided_and_logged() {
    let mut net = match build() {
        Ok(n) => n,
        Err(why) => {
            eprintln!("SKIPPED: the kernel refuses to create network namespaces here: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pki = Pki::new(&["www.tiktok.com", "far.test"]);
    for (name, pem) in [
        ("ca.pem", &pki.ca_pem),
        ("leaf.pem", &pki.leaf_pem),
        ("key.pem", &pki.key_pem),
    ] {
        std::fs::write(d.join(name), pem).unwrap();
    }
    let origin_log = d.join("origin.log");
    std::fs::write(d.join("origin.py"), ORIGIN).unwrap();
    let (script, leaf, key) = (d.join("origin.py"), d.join("leaf.pem"), d.join("key.pem"));
    net.spawn(
        "origin",
        &[
            "/usr/bin/python3",
            script.to_str().unwrap(),
            origin_log.to_str().unwrap(),
            leaf.to_str().unwrap(),
            key.to_str().unwrap(),
        ],
        &d.join("origin.out"),
    );
    let deadline = Instant::now() + DEADLINE;
    while !std::fs::read_to_string(&origin_log)
        .unwrap_or_default()
        .contains("ready")
    {
        let out = std::fs::read_to_string(d.join("origin.out")).unwrap_or_default();
        assert!(Instant::now() < deadline, "the origin did not start: {out}");
        #[allow(clippy::disallowed_methods)] // a plain test thread
        std::thread::sleep(Duration::from_millis(50));
    }
    let cfg = config(d);
    let bin = env!("CARGO_BIN_EXE_slagboom");
    net.spawn(
        "gw",
        &[bin, "run", "-c", cfg.to_str().unwrap()],
        &d.join("slagboom.log"),
    );
    let slagboom_log = d.join("slagboom.log");
    let started = Instant::now() + DEADLINE;
    while !net
        .exec("gw", &["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/3128"])
        .status
        .success()
    {
        let log = std::fs::read_to_string(&slagboom_log).unwrap_or_default();
        assert!(Instant::now() < started, "slagboom did not start in the gateway: {log}");
        #[allow(clippy::disallowed_methods)] // a plain test thread
        std::thread::sleep(Duration::from_millis(50));
    }
    let ca = d.join("ca.pem");
    let origin_lines = || std::fs::read_to_string(&origin_log).unwrap_or_default();
    let tiktok = ["--resolve", "www.tiktok.com:443:10.77.2.2", "https://www.tiktok.com/"];

    // A covered device (by address): refused with a TLS alert, the origin sees nothing.
    let out = curl(&net, "10.77.1.2", &tiktok, &ca);
    assert!(!out.status.success(), "blocked");
    let e = event(d, "the blocked event", |e| {
        e["source"]["ip"] == "10.77.1.2" && e["event"]["action"] == "blocked"
    });
    assert_eq!(e["labels"]["listener"], "transparent");
    assert_eq!(e["labels"]["identity"], "source-ip");
    assert_eq!(e["device"]["id"], "net-cov");
    assert_eq!(e["destination"]["ip"], "10.77.2.2");
    assert_eq!(e["destination"]["port"], 443);
    assert_eq!(e["tls"]["client"]["server_name"], "www.tiktok.com");
    assert!(
        !origin_lines().contains("tls www.tiktok.com"),
        "the origin saw no connection"
    );
    assert!(e["labels"].get("intercepted").is_none(), "curl refused the leaf");

    // The same device trusting the block-page CA (a managed device): the block page
    // over HTTPS, from a leaf minted for the SNI.
    let out = curl(
        &net,
        "10.77.1.2",
        &[
            "-i",
            "--resolve",
            "www.tiktok.com:443:10.77.2.2",
            "https://www.tiktok.com/feed",
        ],
        &d.join("block-ca.pem"),
    );
    let page = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        page.starts_with("HTTP/1.1 403"),
        "{page} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = page
        .lines()
        .find_map(|l| l.strip_prefix("Slagboom-Event-Id: "))
        .expect("event id header")
        .trim()
        .to_owned();
    assert!(page.contains(&id));
    let e = event(d, "the intercepted event", |e| e["event"]["id"] == id.as_str());
    assert_eq!(e["labels"]["intercepted"], "true");
    assert_eq!(e["labels"]["listener"], "transparent");
    assert_eq!(e["event"]["action"], "blocked");
    assert!(!origin_lines().contains("tls www.tiktok.com"));

    // An allowed name reaches the original address with the origin's own certificate,
    // although dns_overrides would send origin.test elsewhere.
    let out = curl(
        &net,
        "10.77.1.2",
        &["--resolve", "far.test:443:10.77.2.2", "https://far.test/tls"],
        &ca,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "origin says hello");
    assert!(origin_lines().contains("http /tls"));

    // A private device passes to the banned name.
    let out = curl(&net, "10.77.1.3", &tiktok, &ca);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let e = event(d, "the private device's event", |e| {
        e["source"]["ip"] == "10.77.1.3" && e["event"]["action"] == "allowed"
    });
    assert_eq!(e["labels"]["coverage"], "private");

    // Plain HTTP: the block page for the covered device, the origin for an allowed host.
    let out = curl(
        &net,
        "10.77.1.2",
        &[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--resolve",
            "www.tiktok.com:80:10.77.2.2",
            "http://www.tiktok.com/x",
        ],
        &ca,
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "403");
    assert!(!origin_lines().contains("http /x"));
    let out = curl(
        &net,
        "10.77.1.2",
        &["--resolve", "far.test:80:10.77.2.2", "http://far.test/plain"],
        &ca,
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "origin says hello");
    let e = event(d, "the plain request's event", |e| {
        e["url"]["original"] == "http://far.test/plain"
            || e["http"]["request"]["method"] == "GET"
                && e["destination"]["port"] == 80
                && e["event"]["action"] == "allowed"
    });
    assert_eq!(e["labels"]["listener"], "transparent");

    // IPv6, through ip6tables on the same dual-stack listener: the covered device by
    // its IPv6 address is blocked; IPv4 clients above were logged as plain IPv4.
    let out = curl(
        &net,
        "fd00:77:1::2",
        &[
            "--resolve",
            "www.tiktok.com:443:[fd00:77:2::2]",
            "https://www.tiktok.com/",
        ],
        &ca,
    );
    assert!(!out.status.success(), "blocked over IPv6");
    let e = event(d, "the IPv6 blocked event", |e| e["source"]["ip"] == "fd00:77:1::2");
    assert_eq!(e["event"]["action"], "blocked");
    assert_eq!(e["destination"]["ip"], "fd00:77:2::2");
    assert_eq!(e["device"]["id"], "net-v6");

    // No SNI (an IP-literal URL) from a covered device, with require_sni_for_covered.
    let out = curl(&net, "10.77.1.2", &["-k", "https://10.77.2.2/nosni"], &ca);
    assert!(!out.status.success());
    let e = event(d, "the sni_required event", |e| e["event"]["reason"] == "sni_required");
    assert_eq!(e["destination"]["ip"], "10.77.2.2");
    assert!(!origin_lines().contains("http /nosni"));

    // An unknown source under unknown_device = "deny": refused, auth_failed, identity none.
    let out = curl(&net, "10.77.1.4", &tiktok, &ca);
    assert!(!out.status.success());
    let e = event(d, "the unknown source's event", |e| e["source"]["ip"] == "10.77.1.4");
    assert_eq!(e["event"]["action"], "auth_failed");
    assert_eq!(e["event"]["reason"], "credentials_missing");
    assert_eq!(e["labels"]["identity"], "none");

    // Bytes that are neither TLS nor HTTP from a covered device: refused (not_tls).
    let out = net.exec(
        "client",
        &[
            "bash",
            "-c",
            "exec 3<>/dev/tcp/10.77.2.2/443; printf '\\001\\002garbage' >&3; timeout 5 cat <&3; true",
        ],
    );
    assert!(out.status.success());
    event(d, "the not_tls event", |e| e["event"]["reason"] == "not_tls");

    // Adversarial bytes on the transparent listener, sent raw from the client
    // namespace: framing the explicit port refuses is refused here too, a blocked SNI
    // outside the CA's constraints trickled one byte per segment gets its alert, and a
    // second ClientHello after a HelloRetryRequest naming another host is cut before
    // the origin sees it.
    let raw_send = |from: &str, to: &str, payloads: &[&Path]| {
        let mut args = vec!["/usr/bin/python3", "-c", RAW_CLIENT, from, to];
        let paths: Vec<String> = payloads.iter().map(|p| p.display().to_string()).collect();
        args.extend(paths.iter().map(String::as_str));
        let out = net.exec("client", &args);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let write = |name: &str, bytes: &[u8]| {
        let p = d.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let two_hosts = write(
        "two-hosts.txt",
        b"GET / HTTP/1.1\r\nHost: far.test\r\nHost: www.tiktok.com\r\n\r\n",
    );
    let cl_te = write(
        "cl-te.txt",
        b"POST / HTTP/1.1\r\nHost: far.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    );
    for (what, file) in [("two Host headers", &two_hosts), ("CL and TE", &cl_te)] {
        let got = raw_send("10.77.1.3", "10.77.2.2:80", &[file]);
        assert!(got.starts_with("485454502f312e3120343030"), "{what}: {got}");
    }
    assert!(!origin_lines().contains("http / "), "nothing reached the origin");
    let pattern_hello = write("pattern-hello.trickle", &client_hello_bytes(&pki, "v16-pattern.test"));
    let got = raw_send("10.77.1.2", "10.77.2.2:443", &[&pattern_hello]);
    assert!(
        got.ends_with("15030300020231"),
        "a trickled blocked hello gets access_denied: {got}"
    );
    let first = write("retry-first.bin", &client_hello_bytes(&pki, "far.test"));
    let mut switched = vec![20, 3, 3, 0, 1, 1];
    switched.extend(client_hello_bytes(&pki, "www.tiktok.com"));
    let second = write("retry-second.bin", &switched);
    let tiktok_hellos = || origin_lines().matches("tls www.tiktok.com").count();
    let before = tiktok_hellos();
    let got = raw_send("10.77.1.3", "10.77.2.3:443", &[&first, &second]);
    assert!(
        got.ends_with("1503030002022f"),
        "illegal_parameter after the switched hello: {got}"
    );
    assert!(
        origin_lines().contains("tls far.test"),
        "the first hello reached the retry origin"
    );
    assert_eq!(tiktok_hellos(), before, "the second hello never reached the origin");
    let e = event(d, "the switched hello's event", |e| {
        e["event"]["reason"] == "client_hello_invalid" && e["tls"]["client"]["server_name"] == "www.tiktok.com"
    });
    assert_eq!(e["labels"]["listener"], "transparent");

    // RADIUS accounting from the network (radclient as the NAS): a wrong secret gets
    // no answer and binds nothing; Start binds 10.77.1.4 to the phone, whose traffic is
    // then known (identity radius) and blocked; Stop unbinds.
    let radclient = |attrs: &str, secret: &str| {
        net.exec(
            "client",
            &[
                "bash",
                "-c",
                &format!("echo '{attrs}' | radclient -t 2 -r 1 -q 10.77.1.1:1813 acct {secret}"),
            ],
        )
    };
    let session = "Acct-Session-Id = \"s1\", Framed-IP-Address = 10.77.1.4, Calling-Station-Id = \"AA-BB-CC-DD-EE-04\"";
    let out = radclient(&format!("Acct-Status-Type = Start, {session}"), "wrong");
    assert!(!out.status.success(), "a wrong secret gets no answer");
    let out = radclient(&format!("Acct-Status-Type = Start, {session}"), "testing123");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let e = event(d, "the bound event", |e| e["event"]["action"] == "bound");
    assert_eq!(e["source"]["ip"], "10.77.1.4");
    assert_eq!(e["source"]["mac"], "AA-BB-CC-DD-EE-04");
    assert_eq!(e["device"]["id"], "net-phone");
    assert_eq!(e["labels"]["nas"], "10.77.1.2");
    let out = radclient(&format!("Acct-Status-Type = Interim-Update, {session}"), "testing123");
    assert!(out.status.success());
    let out = curl(&net, "10.77.1.4", &tiktok, &ca);
    assert!(!out.status.success(), "the bound phone is covered: blocked");
    let e = event(d, "the phone's blocked event", |e| {
        e["source"]["ip"] == "10.77.1.4" && e["event"]["action"] == "blocked"
    });
    assert_eq!(e["labels"]["identity"], "radius");
    assert_eq!(e["device"]["id"], "net-phone");
    let out = radclient(&format!("Acct-Status-Type = Stop, {session}"), "testing123");
    assert!(out.status.success());
    event(d, "the unbound event", |e| e["event"]["action"] == "unbound");
    assert_eq!(
        events(d).iter().filter(|e| e["event"]["action"] == "bound").count(),
        1,
        "the Interim-Update changed nothing"
    );

    // A connection straight to the transparent port (not redirected) is refused.
    let _ = net.exec(
        "client",
        &["bash", "-c", "exec 3<>/dev/tcp/10.77.1.1/3130; timeout 5 cat <&3; true"],
    );
    let e = event(d, "the direct connection's event", |e| {
        e["event"]["reason"] == "destination_prohibited" && e["labels"]["listener"] == "transparent"
    });
    assert_eq!(e["event"]["action"], "refused");
}

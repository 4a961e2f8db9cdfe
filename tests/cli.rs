//! The `slagboom` binary: `check`, `explain`, `pac` exit codes and output, `file:line`
//! errors, `SIGHUP` reload (kept on invalid input) and `SIGTERM` drain. Every process
//! started here is stopped by PID before the test ends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "proxy/support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use support::*;
use tokio::io::AsyncWriteExt;

fn slagboom(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_slagboom"))
        .args(args)
        .output()
        .unwrap()
}

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("slagboom.toml")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn check_accepts_the_demo_and_summarises_it() {
    let o = slagboom(&["check", "-c", demo().to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("registry  10 devices (8 covered, 1 advisory, 1 private)"),
        "{out}"
    );
    assert!(
        out.contains("policy    be-federal-tiktok [federal]: in force, REVIEW OVERDUE"),
        "{out}"
    );
    assert!(
        out.contains("policy    be-flanders-tiktok [flanders]: in force\n"),
        "{out}"
    );
}

/// Writes a test config, applies `edit` to one file, runs `check`, returns stderr.
fn check_error(file: &str, edit: impl Fn(String) -> String) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &Opts::default());
    let target = dir.path().join(file);
    let text = std::fs::read_to_string(&target).unwrap();
    std::fs::write(&target, edit(text)).unwrap();
    let o = slagboom(&["check", "-c", cfg.to_str().unwrap()]);
    let err = stderr(&o).replace(&format!("{}/", dir.path().display()), "");
    (o.status.code().unwrap(), err)
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn check_reports_file_and_line() {
    let (code, err) = check_error("slagboom.toml", |t| t.replace("[admin]", "[admin]\ncolour = \"blue\""));
    assert_eq!(code, 1);
    assert!(err.starts_with("slagboom.toml:"), "{err}");
    assert!(err.contains("unknown field `colour`"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");

    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &Opts::default());
    let text = std::fs::read_to_string(&cfg).unwrap().replace("header_timeout", "x");
    let text = text.replace("[proxy.limits]\n", "[proxy.limits]\nheader_timeout = \"soon\"\n");
    std::fs::write(&cfg, &text).unwrap();
    let o = slagboom(&["check", "-c", cfg.to_str().unwrap()]);
    let want = format!("{}:{}: invalid duration", cfg.display(), line_of(&text, "\"soon\""));
    assert!(stderr(&o).contains(&want), "{} / {want}", stderr(&o));

    let (code, err) = check_error("devices.csv", |t| t.replacen("full,none,none", "lots,none,none", 1));
    assert_eq!(code, 1);
    assert_eq!(
        err.trim(),
        "devices.csv:2: purchase \"lots\" must be none, partial or full"
    );

    // An RFC 4180 export (CRLF line ends): the same physical line numbers.
    let (code, err) = check_error("devices.csv", |t| {
        let lines: Vec<&str> = t.lines().collect();
        let bad = lines[3].replacen("full,none,none", "lots,none,none", 1);
        let bad = if bad == lines[3] {
            lines[3].replacen(",none,", ",lots,", 1)
        } else {
            bad
        };
        let mut lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        lines[3] = bad;
        lines.join("\r\n") + "\r\n"
    });
    assert_eq!(code, 1);
    assert!(err.trim().starts_with("devices.csv:4: "), "{err}");
    assert!(err.contains("\"lots\""), "{err}");

    let (_, err) = check_error("slagboom.toml", |t| {
        t.replace("rulesets = [\"tiktok\", \"test\"]", "rulesets = [\"tiktok\", \"nope\"]")
    });
    assert!(err.contains("policy \"fed\" names unknown ruleset \"nope\""), "{err}");

    let (_, err) = check_error("rules/test.toml", |t| t.replace("blocked.test", "blocked test"));
    assert!(err.starts_with("rules/test.toml:4: domain \"blocked test\""), "{err}");

    let (code, err) = check_error("slagboom.toml", |t| {
        t.replace("name = \"test-proxy\"", "name = \"t\"\ntls_listen = \"127.0.0.1:3129\"")
    });
    assert_eq!(code, 1);
    assert!(err.contains("tls_listen needs tls_cert"), "{err}");
    let (code, err) = check_error("slagboom.toml", |t| {
        format!("{t}\n[intercept]\nca_cert = \"a\"\nca_key = \"b\"\n")
    });
    assert_eq!(code, 1);
    assert!(
        err.contains("[intercept] ca_cert") && err.contains("a: No such file"),
        "{err}"
    );
    let (code, err) = check_error("slagboom.toml", |t| {
        format!("{t}\n[radius]\nlisten = \"127.0.0.1:1813\"\n[[radius.client]]\naddress = \"10.20.0.0/16\"\nsecret_file = \"nowhere.secret\"\n")
    });
    assert_eq!(code, 1);
    assert!(err.contains("secret_file") && err.contains("nowhere.secret"), "{err}");
}

#[test]
fn explain_prints_every_reason() {
    let cfg = demo();
    let c = cfg.to_str().unwrap();
    let o = slagboom(&[
        "explain",
        "-c",
        c,
        "--device",
        "fin-laptop-001",
        "--host",
        "WWW.TikTok.com.",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for want in [
        "device      fin-laptop-001 (",
        "registry/devices.csv:2)",
        "coverage    covered",
        "host        www.tiktok.com",
        "ruleset     tiktok matches (rule tiktok.com)",
        "policy      be-federal-tiktok: in force review overdue; ruleset tiktok matches; block for covered  <- decides",
        "policy      be-flanders-tiktok: in force; does not apply (authorities flanders)",
        "decision    block by be-federal-tiktok",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
    let o = slagboom(&[
        "explain",
        "-c",
        c,
        "--device",
        "fed-byod-101",
        "--host",
        "m.tiktok.com",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["decision"], "warn");
    assert_eq!(v["coverage"], "advisory");
    assert_eq!(v["hit"]["policy"], "be-federal-tiktok");
    // Before the ban took effect.
    let o = slagboom(&[
        "explain",
        "-c",
        c,
        "--device",
        "fin-laptop-001",
        "--host",
        "tiktok.com",
        "--at",
        "2023-03-01T00:00:00Z",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["decision"], "allow");
    assert_eq!(v["policies"][0]["window"], "not_yet_in_force");
    let o = slagboom(&[
        "explain",
        "-c",
        c,
        "--device",
        "def-laptop-777",
        "--host",
        "example.org",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["decision"], "device_retired");
    let o = slagboom(&["explain", "-c", c, "--device", "x", "--host", "not a host"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn pac_prints_the_script() {
    let o = slagboom(&["pac", "-c", demo().to_str().unwrap()]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(out.contains("function FindProxyForURL(url, host)"));
    assert!(out.contains("return \"PROXY 127.0.0.1:3128; DIRECT\";"));
    assert!(!out.contains("dnsResolve"));
}

#[test]
fn run_exits_2_when_it_cannot_listen() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &Opts::default());
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("127.0.0.1:0", &taken.local_addr().unwrap().to_string());
    std::fs::write(&cfg, text).unwrap();
    let o = slagboom(&["run", "-c", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot listen"), "{}", stderr(&o));
    let o = slagboom(&["run", "-c", "/nonexistent/slagboom.toml"]);
    assert_eq!(o.status.code(), Some(1));
}

#[tokio::test]
async fn sighup_reloads_and_keeps_the_old_state_on_invalid_input() {
    let run = Running::start(Opts::default());
    assert_eq!(tiktok_status(run.addr, "fed-priv", "tok-priv").await, 200);
    let csv = run.dir.path().join("devices.csv");
    let text = std::fs::read_to_string(&csv).unwrap();
    // The private device becomes covered.
    let covered = text.replace(
        "fed-priv,federal,Org of fed-priv,owner-fed-priv,none,none,none",
        "fed-priv,federal,Org of fed-priv,owner-fed-priv,full,none,none",
    );
    std::fs::write(&csv, &covered).unwrap();
    run.signal("-HUP");
    let deadline = Instant::now() + DEADLINE;
    while tiktok_status(run.addr, "fed-priv", "tok-priv").await != 403 {
        assert!(Instant::now() < deadline, "reload not applied");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A broken export is refused whole: the device stays covered.
    std::fs::write(
        &csv,
        covered.replace(
            "fed-priv,federal,Org of fed-priv,owner-fed-priv,full",
            "fed-priv,federal,Org of fed-priv,owner-fed-priv,never",
        ),
    )
    .unwrap();
    run.signal("-HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(tiktok_status(run.addr, "fed-priv", "tok-priv").await, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_open_tunnels_then_exits_0() {
    let pki = Pki::new(&["origin.test"]);
    let origin = TlsOrigin::start(&pki).await;
    let mut run = Running::start(Opts {
        connect_ports: vec![origin.addr.port()],
        limits: "shutdown_grace = \"5s\"".into(),
        ..Opts::default()
    });
    let (s, resp) = connect_tunnel(
        run.addr,
        &format!("origin.test:{}", origin.addr.port()),
        Some(("fed-cov", "tok-cov")),
    )
    .await;
    assert_eq!(resp.status, 200);
    let mut tls = tls_over(s, &pki, "origin.test").await.unwrap();
    run.signal("-TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(run.child.try_wait().unwrap(), None, "waits for the open tunnel");
    let mut ready = connect(run.admin).await;
    ready
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(
        read_response(&mut ready, false).await.status,
        503,
        "not ready while draining"
    );
    assert!(std::net::TcpStream::connect(run.addr).is_err(), "no longer accepting");
    tls.write_all(b"GET / HTTP/1.1\r\nHost: origin.test\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_response(&mut tls, false).await.text(), "hello");
    drop(tls);
    let code = tokio::task::block_in_place(|| run.wait_exit(DEADLINE));
    assert_eq!(code, Some(0));
    let events = run.events();
    assert!(
        events
            .iter()
            .any(|e| e["tls"]["client"]["server_name"] == "origin.test"),
        "{events:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sigterm_exits_at_once() {
    let pki = Pki::new(&["origin.test"]);
    let origin = TlsOrigin::start(&pki).await;
    let mut run = Running::start(Opts {
        connect_ports: vec![origin.addr.port()],
        limits: "shutdown_grace = \"60s\"".into(),
        ..Opts::default()
    });
    let (s, _) = connect_tunnel(
        run.addr,
        &format!("origin.test:{}", origin.addr.port()),
        Some(("fed-cov", "tok-cov")),
    )
    .await;
    let _tls = tls_over(s, &pki, "origin.test").await.unwrap();
    run.signal("-TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    run.signal("-TERM");
    let code = tokio::task::block_in_place(|| run.wait_exit(Duration::from_secs(5)));
    assert_eq!(code, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tunnels_still_open_after_the_grace_are_closed_and_logged() {
    let pki = Pki::new(&["origin.test"]);
    let origin = TlsOrigin::start(&pki).await;
    let mut run = Running::start(Opts {
        connect_ports: vec![origin.addr.port()],
        limits: "shutdown_grace = \"500ms\"".into(),
        ..Opts::default()
    });
    let (s, _) = connect_tunnel(
        run.addr,
        &format!("origin.test:{}", origin.addr.port()),
        Some(("fed-cov", "tok-cov")),
    )
    .await;
    let mut tls = tls_over(s, &pki, "origin.test").await.unwrap();
    let started = Instant::now();
    run.signal("-TERM");
    let code = tokio::task::block_in_place(|| run.wait_exit(DEADLINE));
    assert_eq!(code, Some(0));
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "waited for the grace period"
    );
    // The client sees its tunnel closed, and the tunnel's event was written.
    let mut buf = [0u8; 16];
    let closed = tokio::io::AsyncReadExt::read(&mut tls, &mut buf).await;
    assert!(matches!(closed, Ok(0) | Err(_)));
    let events = run.events();
    assert!(
        events
            .iter()
            .any(|e| e["tls"]["client"]["server_name"] == "origin.test" && e["event"]["action"] == "allowed"),
        "{events:#?}"
    );
}

/// A command whose reader goes away (`slagboom check | head -1`) ends quietly, as a
/// Unix filter does: no panic, no backtrace. The pipe's read end is closed before the
/// command has loaded its configuration, so its first write meets a closed pipe.
#[test]
fn a_closed_pipe_ends_a_command_quietly() {
    let cfg = demo();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_slagboom"))
        .args(["check", "-c", cfg.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.is_empty(), "{err}");
}

/// `slagboom test`: the demo's own cases pass; a failing case is shown beside what it
/// expected and the run exits 1; a malformed file is `file:line: reason`.
#[test]
fn policy_tests_pass_fail_and_refuse_malformed_files() {
    let cfg = demo();
    let bin = env!("CARGO_BIN_EXE_slagboom");
    let out = Command::new(bin).args(["test", "-c"]).arg(&cfg).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}");
    let last = text.lines().last().unwrap();
    assert!(last.ends_with("passed, 0 failed"), "{last}");

    let dir = tempfile::tempdir().unwrap();
    let failing = dir.path().join("failing.toml");
    std::fs::write(
        &failing,
        "[[case]]\nname = \"passes\"\ndevice = \"fin-laptop-001\"\nhost = \"www.tiktok.com\"\nat = \"2024-01-01T00:00:00Z\"\nexpect = \"block\"\n\n\
         [[case]]\nname = \"a private device is not blocked\"\ndevice = \"fed-home-202\"\nhost = \"www.tiktok.com\"\nat = \"2024-01-01T00:00:00Z\"\nexpect = \"block\"\npolicy = \"be-federal-tiktok\"\n",
    )
    .unwrap();
    let out = Command::new(bin)
        .args(["test", "-c"])
        .arg(&cfg)
        .arg(&failing)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("ok passes"), "{text}");
    assert!(text.contains("FAILED a private device is not blocked"), "{text}");
    assert!(text.contains("failing.toml:8)"), "the case's line: {text}");
    assert!(text.contains("expected: block by be-federal-tiktok"), "{text}");
    assert!(text.contains("got:      allow"), "{text}");
    assert!(text.trim_end().ends_with("1 passed, 1 failed"), "{text}");

    let malformed = dir.path().join("malformed.toml");
    std::fs::write(
        &malformed,
        "[[case]]\nname = \"ok\"\ndevice = \"fin-laptop-001\"\nhost = \"www.tiktok.com\"\nat = \"2024-01-01T00:00:00Z\"\nexpect = \"block\"\n\n\
         [[case]]\nname = \"unknown device\"\ndevice = \"nobody-999\"\nhost = \"www.tiktok.com\"\nat = \"2024-01-01T00:00:00Z\"\nexpect = \"block\"\n",
    )
    .unwrap();
    let out = Command::new(bin)
        .args(["test", "-c"])
        .arg(&cfg)
        .arg(&malformed)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.trim()
            .ends_with("malformed.toml:8: device \"nobody-999\" is not in the registry"),
        "{err}"
    );
    let original = std::fs::read_to_string(&malformed).unwrap();
    for (bad, want) in [
        (
            "expect = \"deny\"",
            "expect \"deny\" must be block, report, warn, allow or refuse",
        ),
        ("host = \"www tiktok com\"", "host \"www tiktok com\""),
        ("at = \"yesterday\"", "at \"yesterday\""),
    ] {
        let key = bad.split(' ').next().unwrap();
        let text = original
            .replace("nobody-999", "fin-laptop-001")
            .lines()
            .map(|l| {
                if l.starts_with(&format!("{key} ")) {
                    bad.to_owned()
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&malformed, text).unwrap();
        let out = Command::new(bin)
            .args(["test", "-c"])
            .arg(&cfg)
            .arg(&malformed)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{bad}");
        assert!(err.contains("malformed.toml:1: ") && err.contains(want), "{bad}: {err}");
    }
}

/// `slagboom diff`: events with known answers replayed under the demo and under a copy
/// where the federal ban turns to `report` and a look-alike is added to TikTok's rules:
/// every count checked exactly.
#[test]
fn diff_counts_what_would_change_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let copy = |from: &Path, to: &Path| {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            if e.path().is_file() {
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        }
    };
    let b = dir.path().join("b");
    copy(&root.join("rules"), &b.join("rules"));
    copy(&root.join("registry"), &b.join("registry"));
    let cfg = std::fs::read_to_string(root.join("slagboom.toml")).unwrap();
    let federal = cfg.find("id = \"be-federal-tiktok\"").unwrap();
    let covered = federal + cfg[federal..].find("covered = \"block\"").unwrap();
    let changed = format!(
        "{}covered = \"report\"{}",
        &cfg[..covered],
        &cfg[covered + "covered = \"block\"".len()..]
    );
    std::fs::write(b.join("slagboom.toml"), changed).unwrap();
    let rules = std::fs::read_to_string(b.join("rules/tiktok.toml")).unwrap();
    std::fs::write(
        b.join("rules/tiktok.toml"),
        rules.replacen("domains = [", "domains = [\n  \"nottiktok.com\",", 1),
    )
    .unwrap();

    let event = |device: Option<&str>, sni: Option<&str>, domain: Option<&str>| {
        let mut e = serde_json::json!({"@timestamp": "2024-01-15T10:00:00.000Z", "event": {"action": "allowed"}});
        if let Some(d) = device {
            e["device"] = serde_json::json!({"id": d});
        }
        if let Some(s) = sni {
            e["tls"] = serde_json::json!({"client": {"server_name": s}});
        }
        if let Some(d) = domain {
            e["destination"] = serde_json::json!({"domain": d});
        }
        e.to_string()
    };
    let mut lines = Vec::new();
    for _ in 0..7 {
        lines.push(event(
            Some("fin-laptop-001"),
            Some("www.tiktok.com"),
            Some("www.tiktok.com"),
        ));
    }
    lines.push(event(Some("pol-desk-branch"), None, Some("m.tiktok.com")));
    lines.push(event(Some("vl-phone-017"), Some("www.tiktok.com"), None));
    for _ in 0..3 {
        lines.push(event(Some("fed-byod-101"), Some("nottiktok.com"), None));
    }
    lines.push(event(Some("fed-home-202"), Some("www.tiktok.com"), None));
    lines.push(event(None, Some("www.tiktok.com"), None));
    lines.push(event(Some("fin-laptop-001"), None, None));
    lines.push("not json".into());
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, lines.join("\n") + "\n").unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_slagboom"))
        .args(["diff", "--json", "--from"])
        .arg(root.join("slagboom.toml"))
        .arg("--to")
        .arg(b.join("slagboom.toml"))
        .arg("--events")
        .arg(&events)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["events"], 16);
    assert_eq!(v["changed"], 11, "{v:#}");
    assert_eq!(v["unchanged"], 2, "the Flemish phone and the private device");
    assert_eq!(v["skipped"], 2);
    assert_eq!(v["malformed"], 1);
    let row = |list: &str, a: &str, b: &str, key_a: &str, key_b: &str| {
        v[list]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r[key_a] == a && r[key_b] == b)
            .cloned()
            .unwrap_or_else(|| panic!("no {list} row {a} {b}: {v:#}"))
    };
    let block_report = row("by_action", "block", "report", "from", "to");
    assert_eq!(
        (
            block_report["events"].as_u64(),
            block_report["devices"].as_u64(),
            block_report["hosts"].as_u64()
        ),
        (Some(8), Some(2), Some(2))
    );
    assert_eq!(block_report["examples"].as_array().unwrap().len(), 2);
    let allow_warn = row("by_action", "allow", "warn", "from", "to");
    assert_eq!(
        (allow_warn["events"].as_u64(), allow_warn["devices"].as_u64()),
        (Some(3), Some(1))
    );
    let federal = row("by_policy", "be-federal-tiktok", "block -> report", "policy", "change");
    assert_eq!(federal["events"], 8);
    let lookalike = row("by_rule", "tiktok/nottiktok.com", "allow -> warn", "rule", "change");
    assert_eq!(lookalike["events"], 3);

    // The same as tables.
    let out = Command::new(env!("CARGO_BIN_EXE_slagboom"))
        .args(["diff", "--from"])
        .arg(root.join("slagboom.toml"))
        .arg("--to")
        .arg(b.join("slagboom.toml"))
        .arg("--events")
        .arg(&events)
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(
        text.starts_with("16 events: 11 would change, 2 unchanged, 2 skipped"),
        "{text}"
    );
    assert!(
        text.contains("  block -> report: 8 events, 2 devices, 2 hosts"),
        "{text}"
    );
    assert!(text.contains("      e.g. fin-laptop-001 www.tiktok.com"), "{text}");
}

/// `check` names what keeps the helpdesk off, warns of a password file others can
/// read, and refuses an index larger than it allows.
#[test]
fn check_warns_about_the_helpdesk_key() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &Opts {
            admin: "helpdesk_token_file = \"helpdesk.token\"\nhelpdesk_recent_events = 500\n".into(),
            ..Opts::default()
        },
    );
    let run = |cfg: &Path| slagboom(&["check", "-c", cfg.to_str().unwrap()]);
    let o = run(&cfg);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o)
            .contains("helpdesk.token: cannot be read: No such file or directory (os error 2); /helpdesk stays 404"),
        "{}",
        stdout(&o)
    );
    let key = dir.path().join("helpdesk.token");
    std::fs::write(&key, "s3cret\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = stdout(&run(&cfg));
    assert!(
        out.contains("helpdesk.token: is readable by group or others (chmod 600 it)\n"),
        "{out}"
    );
    assert!(out.contains("/helpdesk (the last 500 events kept)"), "{out}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(!stdout(&run(&cfg)).contains("warning: [admin]"));

    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("helpdesk_recent_events = 500", "helpdesk_recent_events = 10000001");
    std::fs::write(&cfg, text).unwrap();
    let o = run(&cfg);
    assert_eq!(o.status.code(), Some(1), "invalid input: {}", stdout(&o));
    assert!(
        stderr(&o).contains("helpdesk_recent_events: at most 10000000"),
        "{}",
        stderr(&o)
    );
}

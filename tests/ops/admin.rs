//! The admin endpoint.

use std::process::Command;

use tokio::io::AsyncWriteExt;

use crate::support::*;

/// One request to the admin endpoint.
pub async fn admin(addr: std::net::SocketAddr, method: &str, path: &str, headers: &str) -> Response {
    let mut s = connect(addr).await;
    let req =
        format!("{method} {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\nContent-Length: 0\r\n{headers}\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    read_response(&mut s, false).await
}

/// Evaluates `FindProxyForURL(url, host)` for each case with libpacparser.
fn pacparser(pac: &str, cases: &[(&str, &str)]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("proxy.pac"), pac).unwrap();
    let script = "import sys, pacparser\n\
                  pacparser.init()\n\
                  pacparser.parse_pac_file(sys.argv[1])\n\
                  for arg in sys.argv[2:]:\n    url, host = arg.split(' ')\n    print(pacparser.find_proxy(url, host))\n";
    let args: Vec<String> = cases.iter().map(|(u, h)| format!("{u} {h}")).collect();
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .arg(dir.path().join("proxy.pac"))
        .args(&args)
        .output()
        .expect("python3 with pacparser: run `make deps`");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pac_and_wpad_answer_correctly_in_libpacparser() {
    let run = Running::start(Opts {
        extra: "[pac]\nproxy = \"proxy.example:3128\"\nhttps_proxy = \"proxy.example:3129\"\ndirect_suffixes = [\".intranet.example\"]\ndirect_networks = [\"10.0.0.0/8\", \"192.168.0.0/16\", \"fd00::/8\"]\nfallback = \"DIRECT\"\n".into(),
        ..Opts::default()
    });
    let resp = admin(run.admin, "GET", "/proxy.pac", "").await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("application/x-ns-proxy-autoconfig"));
    assert!(resp.header("cache-control").unwrap().contains("max-age"));
    let wpad = admin(run.admin, "GET", "/wpad.dat", "").await;
    assert_eq!(wpad.body, resp.body);
    let pac = resp.text();
    assert!(!pac.contains("dnsResolve") && !pac.contains("isInNet"));
    let proxied = "HTTPS proxy.example:3129; PROXY proxy.example:3128; DIRECT";
    let cases = [
        ("http://intranet.example/", "intranet.example", "DIRECT"),
        ("https://wiki.intranet.example/", "wiki.intranet.example", "DIRECT"),
        ("http://printer/", "printer", "DIRECT"),
        ("http://10.1.2.3/", "10.1.2.3", "DIRECT"),
        ("http://192.168.1.1/", "192.168.1.1", "DIRECT"),
        ("http://[fd00::1]/", "fd00::1", "DIRECT"),
        ("https://www.tiktok.com/", "www.tiktok.com", proxied),
        ("https://notintranet.example/", "notintranet.example", proxied),
        (
            "https://intranet.example.evil.com/",
            "intranet.example.evil.com",
            proxied,
        ),
        ("http://11.1.2.3/", "11.1.2.3", proxied),
        ("http://[2001:db8::1]/", "2001:db8::1", proxied),
        ("https://WWW.TIKTOK.COM./", "WWW.TIKTOK.COM.", proxied),
    ];
    let got = pacparser(&pac, &cases.iter().map(|(u, h, _)| (*u, *h)).collect::<Vec<_>>());
    for ((url, _, want), got) in cases.iter().zip(&got) {
        assert_eq!(got, want, "{url}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_unknown_paths() {
    let run = Running::start(Opts::default());
    assert_eq!(admin(run.admin, "GET", "/healthz", "").await.status, 200);
    assert_eq!(admin(run.admin, "GET", "/readyz", "").await.status, 200);
    assert_eq!(admin(run.admin, "GET", "/nope", "").await.status, 404);
    assert_eq!(admin(run.admin, "DELETE", "/metrics", "").await.status, 405);
    assert_eq!(admin(run.admin, "GET", "/reload", "").await.status, 405);
    // The admin endpoint is never a proxy destination.
    let port = run.admin.port();
    let host = format!("127.0.0.1:{port}");
    let req = format!(
        "GET http://{host}/metrics HTTP/1.1\r\nHost: {host}\r\nProxy-Authorization: {}\r\n\r\n",
        basic("fed-cov", "tok-cov")
    );
    let resp = raw(run.addr, &req).await;
    assert_eq!(resp.status, 403);
    assert!(resp
        .header("proxy-status")
        .unwrap()
        .contains("destination_ip_prohibited"));
}

/// Parses the exposition with the Prometheus client's OpenMetrics parser and prints
/// `name{labels} value` lines.
fn parse_metrics(text: &str) -> Vec<String> {
    let script = "import sys\n\
                  from prometheus_client.openmetrics.parser import text_string_to_metric_families\n\
                  for fam in text_string_to_metric_families(sys.stdin.read()):\n    for s in fam.samples:\n        labels = ','.join(f'{k}={v}' for k, v in sorted(s.labels.items()))\n        print(f'{s.name}{{{labels}}} {s.value}')\n";
    let mut child = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with prometheus_client: run `make deps`");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the exposition does not parse: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn sample(samples: &[String], prefix: &str) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.starts_with(prefix))
        .and_then(|s| s.rsplit(' ').next()?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_move_after_a_block() {
    let run = Running::start(Opts::default());
    let before = parse_metrics(&admin(run.admin, "GET", "/metrics", "").await.text());
    for name in [
        "slagboom_reload_failures_total{}",
        "slagboom_registry_devices{coverage=covered}",
        "slagboom_policy_review_overdue{policy=fed}",
        "slagboom_events_queued{}",
        "slagboom_spool_bytes{}",
        "slagboom_active_tunnels{}",
    ] {
        assert!(sample(&before, name).is_some(), "{name} missing: {before:#?}");
    }
    assert_eq!(
        sample(&before, "slagboom_registry_devices{coverage=covered}"),
        Some(7.0)
    );
    assert_eq!(sample(&before, "slagboom_policy_review_overdue{policy=fed}"), Some(1.0));
    assert_eq!(sample(&before, "slagboom_policy_review_overdue{policy=vl}"), Some(0.0));
    let req = format!(
        "CONNECT www.tiktok.com:443 HTTP/1.1\r\nHost: www.tiktok.com:443\r\nProxy-Authorization: {}\r\n\r\n",
        basic("fed-cov", "tok-cov")
    );
    assert_eq!(raw(run.addr, &req).await.status, 403);
    let bad = raw(
        run.addr,
        "CONNECT www.tiktok.com:443 HTTP/1.1\r\nHost: x\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\n\r\n",
    )
    .await;
    assert_eq!(bad.status, 407);
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let after = parse_metrics(&admin(run.admin, "GET", "/metrics", "").await.text());
        let blocked = sample(
            &after,
            "slagboom_decisions_total{action=block,policy=fed,ruleset=tiktok}",
        );
        let delivered = sample(&after, "slagboom_events_delivered_total{sink=file-1}");
        if blocked == Some(1.0) && delivered >= Some(2.0) {
            assert_eq!(sample(&after, "slagboom_auth_failures_total{method=token}"), Some(1.0));
            let conns = |m: &[String]| sample(m, "slagboom_connections_total{listener=explicit}").unwrap_or(0.0);
            // At least our two (the start-up probe may be counted late).
            assert!(conns(&after) - conns(&before) >= 2.0);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{after:#?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// SPEC §10: every series whose labels the configuration tells is there from the
/// start at 0, so an alert on `slagboom_sink_errors_total` sees 0, not "no data".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_series_are_exported_at_zero_from_the_start() {
    let run = Running::start(Opts {
        sinks: "[[log.sink]]\ntype = \"file\"\nname = \"audit\"\npath = \"audit.jsonl\"\n".into(),
        ..Opts::default()
    });
    let samples = parse_metrics(&admin(run.admin, "GET", "/metrics", "").await.text());
    for name in [
        "slagboom_sink_errors_total{sink=file-1}",
        "slagboom_sink_errors_total{sink=audit}",
        "slagboom_dead_letters_total{sink=file-1}",
        "slagboom_dead_letters_total{sink=audit}",
        "slagboom_auth_failures_total{method=token}",
        "slagboom_auth_failures_total{method=source-ip}",
        "slagboom_auth_failures_total{method=none}",
        "slagboom_decisions_total{action=block,policy=fed,ruleset=tiktok}",
        "slagboom_decisions_total{action=warn,policy=fed,ruleset=test}",
        "slagboom_decisions_total{action=allow,policy=vl,ruleset=tiktok}",
        "slagboom_decisions_total{action=allow,policy=,ruleset=}",
        "slagboom_policy_review_overdue{policy=past}",
    ] {
        assert_eq!(sample(&samples, name), Some(0.0), "{name}: {samples:#?}");
    }
    for name in [
        "slagboom_events_delivered_total{sink=file-1}",
        "slagboom_events_delivered_total{sink=audit}",
        "slagboom_connections_total{listener=explicit}",
    ] {
        assert!(sample(&samples, name).is_some(), "{name} missing: {samples:#?}");
    }
}

/// RFC 9110 §9.3.2: the admin endpoint's answers to `HEAD` have no content either, so
/// requests on one kept-alive connection stay in step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_answers_have_no_content() {
    let run = Running::start(Opts::default());
    let mut s = connect(run.admin).await;
    for (path, status) in [
        ("/healthz", 200),
        ("/readyz", 200),
        ("/proxy.pac", 200),
        ("/wpad.dat", 200),
        ("/metrics", 200),
        ("/nope", 404),
    ] {
        s.write_all(format!("HEAD {path} HTTP/1.1\r\nHost: admin\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let resp = read_response(&mut s, true).await;
        assert_eq!(resp.status, status, "HEAD {path}");
    }
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let resp = read_response(&mut s, false).await;
    assert_eq!((resp.status, resp.text().as_str()), (200, "ok\n"));
}

//! The `report` action (SPEC §5): a ban phased in. Traffic passes untouched, plain
//! HTTP and tunnels alike, and each is a `reported` event with the rule facts a block
//! would carry, counted under `action="report"`; `explain` says so.

use tokio::io::AsyncWriteExt;

use crate::support::*;

const PHASE_IN: &str = r#"
[[policy]]
id = "phase-in"
title = "A ban being phased in"
authorities = ["phasein"]
rulesets = ["test"]
covered = "report"
advisory = "allow"
private = "allow"
effective_from = "2023-03-10T00:00:00+01:00"
reference = "Decision in preparation"
"#;

fn opts(ports: Vec<u16>) -> Opts {
    Opts {
        extra: PHASE_IN.into(),
        devices: vec![["phase-dev", "phasein", "full,none,none", "false", "tok-phase", ""].map(String::from)],
        connect_ports: ports,
        ..Opts::default()
    }
}

fn check_reported(e: &serde_json::Value) {
    assert_eq!(e["event"]["action"], "reported");
    assert_eq!(e["event"]["outcome"], "success");
    assert_eq!(e["event"]["type"][1], "allowed");
    assert_eq!(e["rule"]["ruleset"], "test");
    assert_eq!(e["rule"]["id"], "blocked.test");
    assert_eq!(e["rule"]["reference"], "phase-in");
    assert_eq!(e["destination"]["domain"], "blocked.test");
    assert!(e["event"].get("reason").is_none(), "nothing was refused");
}

#[tokio::test]
async fn reported_traffic_passes_untouched_and_is_recorded_like_a_block() {
    let origin = HttpOrigin::start().await;
    let pki = Pki::new(&["blocked.test"]);
    let tls = TlsOrigin::start(&pki).await;
    let proxy = Proxy::start(opts(vec![tls.addr.port()])).await;
    let auth = Some(("phase-dev", "tok-phase"));

    let url = format!("http://blocked.test:{}/watch?v=1", origin.addr.port());
    let host = format!("blocked.test:{}", origin.addr.port());
    let resp = raw(proxy.addr, &get(&url, &host, auth, "")).await;
    assert_eq!(resp.status, 200, "the origin answered");
    let e = proxy
        .event_where(|e| e["event"]["action"] == "reported" && e["http"]["request"]["method"] == "GET")
        .await;
    check_reported(&e);
    assert!(
        e.get("url").is_none(),
        "allowed traffic keeps no URL under allowed_detail = host"
    );

    let (s, resp) = connect_tunnel(proxy.addr, &format!("blocked.test:{}", tls.addr.port()), auth).await;
    assert_eq!(resp.status, 200);
    let mut t = tls_over(s, &pki, "blocked.test")
        .await
        .expect("the origin's own handshake");
    assert_eq!(t.get_ref().1.peer_certificates().unwrap()[0], pki.leaf, "untouched");
    t.write_all(b"GET / HTTP/1.1\r\nHost: blocked.test\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_response(&mut t, false).await.text(), "hello");
    drop(t);
    let e = proxy
        .event_where(|e| e["event"]["action"] == "reported" && e["tls"]["client"]["server_name"] == "blocked.test")
        .await;
    check_reported(&e);
    assert!(e["destination"]["bytes"].as_u64().unwrap() > 0);

    let metrics = proxy.metrics.encode();
    assert!(
        metrics.contains("slagboom_decisions_total{action=\"report\",policy=\"phase-in\",ruleset=\"test\"} 2"),
        "{metrics}"
    );

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_slagboom"))
        .args(["explain", "-c"])
        .arg(proxy.dir.path().join("slagboom.toml"))
        .args(["--device", "phase-dev", "--host", "blocked.test", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["decision"], "report", "{v}");

    // Every event names the policy version in force, the one `check` prints.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_slagboom"))
        .args(["check", "-c"])
        .arg(proxy.dir.path().join("slagboom.toml"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let version = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("policy_version "))
        .unwrap_or_else(|| panic!("{text}"))
        .to_owned();
    assert_eq!(version.len(), 16);
    for e in proxy.events().await {
        assert_eq!(e["labels"]["policy_version"], version.as_str(), "{e}");
    }
    assert_eq!(v["hit"]["policy"], "phase-in", "{v}");
}

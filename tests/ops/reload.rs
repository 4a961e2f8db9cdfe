//! Hot reload: `POST /reload` with its bearer token, the file watch, refusals that keep
//! the old state (invalid input, a truncated registry), and connections that keep the
//! snapshot they started with.

use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncWriteExt;

use crate::admin::admin;
use crate::support::*;

const PRIV_ROW: &str = "fed-priv,federal,Org of fed-priv,owner-fed-priv,none,none,none";
const PRIV_COVERED: &str = "fed-priv,federal,Org of fed-priv,owner-fed-priv,full,none,none";

fn with_token() -> Opts {
    Opts {
        admin: "reload_token_file = \"admin.token\"".into(),
        ..Opts::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_reload_needs_the_bearer_token() {
    let plain = Running::start(Opts::default());
    assert_eq!(
        admin(plain.admin, "POST", "/reload", "").await.status,
        403,
        "disabled without a token file"
    );
    drop(plain);

    let run = Running::start(with_token());
    std::fs::write(run.dir.path().join("admin.token"), "s3cret-admin-token\n").unwrap();
    assert_eq!(admin(run.admin, "POST", "/reload", "").await.status, 401);
    assert_eq!(
        admin(run.admin, "POST", "/reload", "Authorization: Bearer wrong\r\n")
            .await
            .status,
        401
    );
    assert_eq!(
        admin(
            run.admin,
            "POST",
            "/reload",
            "Authorization: Basic s3cret-admin-token\r\n"
        )
        .await
        .status,
        401
    );
    let csv = run.dir.path().join("devices.csv");
    let text = std::fs::read_to_string(&csv).unwrap();
    std::fs::write(&csv, text.replace(PRIV_ROW, PRIV_COVERED)).unwrap();
    assert_eq!(
        tiktok_status(run.addr, "fed-priv", "tok-priv").await,
        200,
        "not yet reloaded"
    );
    let resp = admin(
        run.admin,
        "POST",
        "/reload",
        "Authorization: Bearer s3cret-admin-token\r\n",
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let v: Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(v["reloaded"], true);
    assert_eq!(v["devices"], 10);
    assert_eq!(tiktok_status(run.addr, "fed-priv", "tok-priv").await, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_or_truncated_input_keeps_the_old_state() {
    let run = Running::start(with_token());
    std::fs::write(run.dir.path().join("admin.token"), "t0ken").unwrap();
    let auth = "Authorization: Bearer t0ken\r\n";
    let csv = run.dir.path().join("devices.csv");
    let good = std::fs::read_to_string(&csv).unwrap();

    std::fs::write(
        &csv,
        good.replace(
            PRIV_ROW,
            "fed-priv,federal,Org of fed-priv,owner-fed-priv,nope,none,none",
        ),
    )
    .unwrap();
    let resp = admin(run.admin, "POST", "/reload", auth).await;
    assert_eq!(resp.status, 422);
    let v: Value = serde_json::from_slice(&resp.body).unwrap();
    let err = v["error"].as_str().unwrap();
    assert!(
        err.ends_with("devices.csv:4: purchase \"nope\" must be none, partial or full"),
        "{err}"
    );
    assert_eq!(
        tiktok_status(run.addr, "fed-cov", "tok-cov").await,
        403,
        "still enforcing"
    );

    // A registry export cut short: 3 of 10 devices left.
    let truncated: String = good.lines().take(4).map(|l| format!("{l}\n")).collect();
    std::fs::write(&csv, truncated).unwrap();
    let resp = admin(run.admin, "POST", "/reload", auth).await;
    assert_eq!(resp.status, 422);
    assert!(resp.text().contains("likely truncated export"), "{}", resp.text());
    // fed-ret is not in the truncated file; the old registry (with it retired) stands.
    assert_eq!(tiktok_status(run.addr, "fed-ret", "tok-ret").await, 403);

    // A bad configuration line.
    let cfg = run.dir.path().join("slagboom.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, text.replace("[block_page]", "[block_page]\nunknown_key = 1")).unwrap();
    std::fs::write(&csv, &good).unwrap();
    let resp = admin(run.admin, "POST", "/reload", auth).await;
    assert_eq!(resp.status, 422);
    let metrics = admin(run.admin, "GET", "/metrics", "").await.text();
    assert!(metrics.contains("slagboom_reload_failures_total 3"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_watch_applies_changes_without_a_signal() {
    let run = Running::start(Opts {
        registry: "poll = \"200ms\"".into(),
        ..Opts::default()
    });
    let csv = run.dir.path().join("devices.csv");
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(tiktok_status(run.addr, "fed-priv", "tok-priv").await, 200);
    tokio::time::sleep(Duration::from_millis(50)).await;
    std::fs::write(&csv, text.replace(PRIV_ROW, PRIV_COVERED)).unwrap();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while tiktok_status(run.addr, "fed-priv", "tok-priv").await != 403 {
        assert!(tokio::time::Instant::now() < deadline, "the change was not picked up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Rules too: a new ruleset file is seen and its policy applies.
    let rules = run.dir.path().join("rules/test.toml");
    let t = std::fs::read_to_string(&rules).unwrap();
    std::fs::write(
        &rules,
        t.replace("\"blocked.test\"", "\"blocked.test\", \"newly-banned.test\""),
    )
    .unwrap();
    let req = format!(
        "CONNECT newly-banned.test:443 HTTP/1.1\r\nHost: x\r\nProxy-Authorization: {}\r\n\r\n",
        basic("fed-cov", "tok-cov")
    );
    while raw(run.addr, &req).await.status != 403 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the rules change was not picked up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_connections_keep_their_snapshot() {
    let origin = HttpOrigin::start().await;
    let run = Running::start(with_token());
    std::fs::write(run.dir.path().join("admin.token"), "t").unwrap();
    let host = format!("www.tiktok.com:{}", origin.addr.port());
    let get = |path: &str| {
        format!(
            "GET http://{host}{path} HTTP/1.1\r\nHost: {host}\r\nProxy-Authorization: {}\r\n\r\n",
            basic("fed-priv", "tok-priv")
        )
    };
    let mut kept = connect(run.addr).await;
    kept.write_all(get("/1").as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut kept, false).await.status, 200);
    let csv = run.dir.path().join("devices.csv");
    let text = std::fs::read_to_string(&csv).unwrap();
    std::fs::write(&csv, text.replace(PRIV_ROW, PRIV_COVERED)).unwrap();
    assert_eq!(
        admin(run.admin, "POST", "/reload", "Authorization: Bearer t\r\n")
            .await
            .status,
        200
    );
    // The open connection decided with the snapshot it loaded at accept...
    kept.write_all(get("/2").as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut kept, false).await.status, 200);
    // ...a new one with the new snapshot.
    assert_eq!(raw(run.addr, &get("/3")).await.status, 403);
}

/// 100 reloads, good and bad in turn, while clients keep asking: no request fails
/// because of a reload, the blocked host stays blocked throughout, and every bad
/// reload is refused and counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_good_and_bad_reloads_under_load() {
    let origin = HttpOrigin::start().await;
    let run = Running::start(with_token());
    std::fs::write(run.dir.path().join("admin.token"), "t0ken").unwrap();
    let auth = "Authorization: Bearer t0ken\r\n";
    let csv = run.dir.path().join("devices.csv");
    let good = std::fs::read_to_string(&csv).unwrap();
    let bad = good.replace(
        PRIV_ROW,
        "fed-priv,federal,Org of fed-priv,owner-fed-priv,nope,none,none",
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let addr = run.addr;
    let port = origin.addr.port();
    let load = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let (mut blocked, mut allowed, mut failures) = (0u32, 0u32, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match tiktok_status(addr, "fed-cov", "tok-cov").await {
                    403 => blocked += 1,
                    s => failures.push(format!("blocked host answered {s}")),
                }
                let url = format!("http://origin.test:{port}/");
                let host = format!("origin.test:{port}");
                match raw(addr, &get(&url, &host, Some(("fed-priv", "tok-priv")), ""))
                    .await
                    .status
                {
                    200 => allowed += 1,
                    s => failures.push(format!("allowed request answered {s}")),
                }
            }
            (blocked, allowed, failures)
        })
    };
    for i in 0..100 {
        let good_turn = i % 2 == 0;
        std::fs::write(&csv, if good_turn { &good } else { &bad }).unwrap();
        let resp = admin(run.admin, "POST", "/reload", auth).await;
        assert_eq!(
            resp.status,
            if good_turn { 200 } else { 422 },
            "reload {i}: {}",
            resp.text()
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (blocked, allowed, failures) = load.await.unwrap();
    assert!(failures.is_empty(), "{failures:?}");
    assert!(blocked > 20 && allowed > 20, "{blocked} blocked, {allowed} allowed");
    let metrics = admin(run.admin, "GET", "/metrics", "").await.text();
    assert!(metrics.contains("slagboom_reload_failures_total 50"), "{metrics}");
}

/// A `config_changed` event at start and after every successful reload (SPEC §14): the
/// previous version, and what changed; the version does not move when only the layout
/// of a file does, nor across a restart. (The file watch may reload too: each step
/// looks for the event that brought its version in.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_changed_events_carry_the_versions_and_what_changed() {
    let mut run = Running::start(with_token());
    std::fs::write(run.dir.path().join("admin.token"), "t0ken").unwrap();
    let auth = "Authorization: Bearer t0ken\r\n";
    let cfg = run.dir.path().join("slagboom.toml");
    // The version `check` gives the files as they are now.
    let checked = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_slagboom"))
            .args(["check", "-c"])
            .arg(&cfg)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.trim().strip_prefix("policy_version ").map(str::to_owned))
            .unwrap()
    };
    // The event that brought `version` in (its previous version is another one).
    let brought_in = |run: &Running, version: &str, previous: Option<&str>| -> Value {
        let deadline = std::time::Instant::now() + DEADLINE;
        loop {
            let found = run.events().into_iter().find(|e| {
                e["event"]["action"] == "config_changed"
                    && e["labels"]["policy_version"] == version
                    && e["labels"]["previous_policy_version"].as_str() == previous
            });
            if let Some(e) = found {
                return e;
            }
            assert!(std::time::Instant::now() < deadline, "no config_changed to {version}");
            #[allow(clippy::disallowed_methods)] // inside block_in_place
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let v1 = checked();
    let first = tokio::task::block_in_place(|| brought_in(&run, &v1, None));
    assert_eq!(first["event"]["category"], serde_json::json!(["configuration"]));
    assert_eq!(first["event"]["type"], serde_json::json!(["change"]));
    assert_eq!(first["event"]["outcome"], "success");
    assert!(first.get("source").is_none(), "{first}");
    let message = first["message"].as_str().unwrap();
    assert!(message.starts_with("policies +4 -0 ~0; rules +"), "{message}");
    assert!(message.ends_with("devices +10 -0 ~0"), "{message}");
    let readyz = admin(run.admin, "GET", "/readyz", "").await.text();
    assert!(readyz.contains(&format!("policy_version {v1}")), "{readyz}");

    // A device changes.
    let csv = run.dir.path().join("devices.csv");
    let text = std::fs::read_to_string(&csv).unwrap();
    std::fs::write(&csv, text.replace(PRIV_ROW, PRIV_COVERED)).unwrap();
    assert_eq!(admin(run.admin, "POST", "/reload", auth).await.status, 200);
    let v2 = checked();
    assert_ne!(v2, v1);
    let second = tokio::task::block_in_place(|| brought_in(&run, &v2, Some(&v1)));
    assert_eq!(second["message"], "policies +0 -0 ~0; rules +0 -0; devices +0 -0 ~1");

    // A rule is added.
    let rules = run.dir.path().join("rules/test.toml");
    let ruleset = std::fs::read_to_string(&rules).unwrap();
    std::fs::write(
        &rules,
        ruleset.replace("\"blocked.test\"]", "\"blocked.test\", \"newly.test\"]"),
    )
    .unwrap();
    assert_eq!(admin(run.admin, "POST", "/reload", auth).await.status, 200);
    let v3 = checked();
    let third = tokio::task::block_in_place(|| brought_in(&run, &v3, Some(&v2)));
    assert_eq!(third["message"], "policies +0 -0 ~0; rules +1 -0; devices +0 -0 ~0");

    // The same rules written differently: the same version.
    let reordered = std::fs::read_to_string(&rules).unwrap().replace(
        "\"blocked.test\", \"newly.test\"]",
        "\"newly.test\",\n  \"blocked.test\" ]  # reordered",
    );
    std::fs::write(&rules, reordered).unwrap();
    assert_eq!(checked(), v3, "reformatting keeps the version");
    assert_eq!(admin(run.admin, "POST", "/reload", auth).await.status, 200);
    let same = tokio::task::block_in_place(|| brought_in(&run, &v3, Some(&v3)));
    assert_eq!(same["message"], "policies +0 -0 ~0; rules +0 -0; devices +0 -0 ~0");

    // A restart on the same input: the same version (no previous one at start).
    // (After a kill, the file sink may write earlier events again: at least once.
    // The restart's event is the one with an id not seen before.)
    let seen: Vec<Value> = run.events().into_iter().map(|e| e["event"]["id"].clone()).collect();
    run.restart();
    let restarted = tokio::task::block_in_place(|| {
        let deadline = std::time::Instant::now() + DEADLINE;
        loop {
            let all = run.events();
            if let Some(e) = all.iter().find(|e| {
                e["event"]["action"] == "config_changed"
                    && !seen.contains(&e["event"]["id"])
                    && e["message"].as_str().is_some_and(|m| m.starts_with("policies +4"))
            }) {
                return e.clone();
            }
            assert!(std::time::Instant::now() < deadline);
            #[allow(clippy::disallowed_methods)] // inside block_in_place
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    assert_eq!(restarted["labels"]["policy_version"], v3.as_str());
    assert!(restarted["labels"].get("previous_policy_version").is_none());
}

//! A real headless Chromium configured only with the PAC URL of the admin endpoint:
//! intranet names go direct, everything else through the proxy, which blocks TikTok
//! and shows the block page.

use std::process::Stdio;
use std::time::Duration;

use crate::support::*;

const CHROMIUM: &str = "/usr/bin/chromium";

/// Loads `url` in headless Chromium with the PAC file and returns the DOM it rendered.
async fn chromium_dump(pac_url: &str, resolver_rules: &str, url: &str) -> String {
    assert!(
        std::path::Path::new(CHROMIUM).exists(),
        "chromium is not installed: run `make deps`"
    );
    let profile = tempfile::tempdir().unwrap();
    let child = tokio::process::Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--lang=en-US",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--proxy-pac-url={pac_url}"))
        .arg(format!("--host-resolver-rules={resolver_rules}"))
        .args(["--virtual-time-budget=5000", "--dump-dom", url])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("chromium finished in time")
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_follows_the_pac_file() {
    let origin = HttpOrigin::start().await;
    let run = Running::start(Opts {
        // Chromium has no proxy credentials here: unknown devices count as covered.
        unknown_device: "covered",
        extra: "[pac]\ndirect_suffixes = [\".intranet.example\"]\nfallback = \"\"\n".into(),
        ..Opts::default()
    });
    let pac = format!("http://{}/proxy.pac", run.admin);
    // Names resolve to the local origin only through these rules (no DNS here).
    let rules = "MAP wiki.intranet.example 127.0.0.1, MAP www.tiktok.com 127.0.0.1";

    // Blocked through the proxy: the block page, with its event id.
    let dom = chromium_dump(&pac, rules, "http://www.tiktok.com/foryou").await;
    assert!(dom.contains("lang=\"en\""), "{dom}");
    assert!(dom.contains("Federal ban") || dom.contains("Flemish ban"), "{dom}");
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let events = run.events();
        let named = events.iter().any(|e| {
            e["destination"]["domain"] == "www.tiktok.com"
                && e["event"]["action"] == "blocked"
                && dom.contains(e["event"]["id"].as_str().unwrap_or("-"))
        });
        if named {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no blocked event named on the page: {events:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // An intranet name goes direct: the origin answers and the proxy never sees it.
    let url = format!("http://wiki.intranet.example:{}/page", origin.addr.port());
    let dom = chromium_dump(&pac, rules, &url).await;
    assert!(dom.contains("/page"), "the origin's echo: {dom}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(run
        .events()
        .iter()
        .all(|e| e["destination"]["domain"] != "wiki.intranet.example"));
}

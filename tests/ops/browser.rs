//! A real headless Chromium configured only with the PAC URL of the admin endpoint:
//! intranet names go direct, everything else through the proxy, which blocks TikTok
//! and shows the block page, over plain HTTP and, with interception, over HTTPS (the
//! profile's NSS database trusts the block-page CA, as a managed device would).

use std::process::Stdio;
use std::time::Duration;

use crate::support::*;

const CHROMIUM: &str = "/usr/bin/chromium";

/// Loads `url` in headless Chromium with the PAC file and returns the DOM it rendered.
async fn chromium_dump(pac_url: &str, resolver_rules: &str, url: &str) -> String {
    let home = tempfile::tempdir().unwrap();
    chromium(
        home.path(),
        pac_url,
        resolver_rules,
        &["--lang=en-US", "--dump-dom", url],
    )
    .await
}

/// Runs headless Chromium with `$HOME` at `home` (its NSS database is
/// `home/.pki/nssdb`), the PAC file and `args`; returns what it printed.
async fn chromium(home: &std::path::Path, pac_url: &str, resolver_rules: &str, args: &[&str]) -> String {
    assert!(
        std::path::Path::new(CHROMIUM).exists(),
        "chromium is not installed: run `make deps`"
    );
    let profile = tempfile::tempdir().unwrap();
    let child = tokio::process::Command::new(CHROMIUM)
        .env("HOME", home)
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
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--proxy-pac-url={pac_url}"))
        .arg(format!("--host-resolver-rules={resolver_rules}"))
        .arg("--virtual-time-budget=5000")
        .args(args)
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

/// A fresh NSS database under `home` trusting each PEM CA in `cas` for TLS servers.
fn trust(home: &std::path::Path, cas: &[(&str, &str)]) {
    let db = home.join(".pki/nssdb");
    std::fs::create_dir_all(&db).unwrap();
    let db = format!("sql:{}", db.display());
    let certutil = |args: &[&str]| {
        let ok = std::process::Command::new("certutil")
            .args(args)
            .status()
            .expect("certutil (libnss3-tools) is installed: run `make deps`");
        assert!(ok.success(), "certutil {args:?}");
    };
    certutil(&["-d", &db, "-N", "--empty-password"]);
    for (nick, pem) in cas {
        let file = home.join(format!("{nick}.pem"));
        std::fs::write(&file, pem).unwrap();
        certutil(&["-d", &db, "-A", "-t", "C,,", "-n", nick, "-i", file.to_str().unwrap()]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_shows_the_https_block_page_and_leaves_allowed_sites_alone() {
    let ca = block_ca();
    let pki = Pki::new(&["allowed.example"]);
    let origin = TlsOrigin::start(&pki).await;
    let run = Running::start(intercepting(
        &ca,
        Opts {
            unknown_device: "covered",
            names: vec!["allowed.example".into()],
            connect_ports: vec![origin.addr.port()],
            extra: "[pac]\nfallback = \"\"\n".into(),
            ..Opts::default()
        },
    ));
    let home = tempfile::tempdir().unwrap();
    trust(home.path(), &[("slagboom", &ca.cert_pem), ("origin", &pki.ca_pem)]);
    let pac = format!("http://{}/proxy.pac", run.admin);
    let dutch = ["--lang=nl-BE", "--accept-lang=nl-BE,nl"];

    // TikTok over HTTPS: the Dutch block page, with its event id.
    let mut args = dutch.to_vec();
    args.extend(["--dump-dom", "https://www.tiktok.com/"]);
    let dom = chromium(home.path(), &pac, "", &args).await;
    assert!(dom.contains("lang=\"nl\""), "{dom}");
    assert!(dom.contains("Toegang geblokkeerd"), "{dom}");
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let event = loop {
        let named = run.events().into_iter().find(|e| {
            e["event"]["action"] == "blocked"
                && e["labels"]["intercepted"] == "true"
                && dom.contains(e["event"]["id"].as_str().unwrap_or("-"))
        });
        if let Some(e) = named {
            break e;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no intercepted event named on the page"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(event["tls"]["client"]["server_name"], "www.tiktok.com");

    // The screenshot a civil servant would see, kept as a test artifact.
    let artifacts = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("https-block-page-nl.png");
    let _ = std::fs::remove_file(&shot);
    let mut args = dutch.to_vec();
    let screenshot = format!("--screenshot={}", shot.display());
    args.extend(["--window-size=1000,760", &screenshot, "https://www.tiktok.com/"]);
    chromium(home.path(), &pac, "", &args).await;
    assert!(
        std::fs::metadata(&shot).map(|m| m.len() > 0).unwrap_or(false),
        "screenshot written"
    );

    // An allowed site over HTTPS: its own page, through the proxy, untouched.
    let url = format!("https://allowed.example:{}/", origin.addr.port());
    let dom = chromium(home.path(), &pac, "", &["--dump-dom", &url]).await;
    assert!(dom.contains("hello"), "{dom}");
    assert!(origin.connection_count() >= 1, "the origin itself answered");
}

/// A helpdesk agent's browser: Chromium is blocked from TikTok, and the event id on
/// its block page, put in the helpdesk page (with the helpdesk password as the URL's
/// credentials, as a browser sends them after its login prompt), is explained in
/// Dutch. The screenshot is kept as a test artifact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_shows_the_helpdesk_explaining_a_block() {
    let key = "helpdesk-key-1";
    let run = Running::start(Opts {
        unknown_device: "covered",
        extra: "[pac]\nfallback = \"\"\n".into(),
        admin: "helpdesk_token_file = \"helpdesk.token\"\n".into(),
        files: vec![("helpdesk.token".into(), format!("{key}\n").into_bytes())],
        ..Opts::default()
    });
    let pac = format!("http://{}/proxy.pac", run.admin);
    let home = tempfile::tempdir().unwrap();
    let dutch = ["--lang=nl-BE", "--accept-lang=nl-BE,nl"];

    let mut args = dutch.to_vec();
    args.extend(["--dump-dom", "http://www.tiktok.com/"]);
    let block_page = chromium(home.path(), &pac, "", &args).await;
    assert!(block_page.contains("Toegang geblokkeerd"), "{block_page}");
    let start = block_page.find("<code>").expect("an event id on the block page") + "<code>".len();
    let id = &block_page[start..start + block_page[start..].find("</code>").unwrap()];

    let helpdesk = format!("http://agent:{key}@{}/helpdesk?q={id}", run.admin);
    let mut args = dutch.to_vec();
    args.extend(["--dump-dom", &helpdesk]);
    let dom = chromium(home.path(), &pac, "", &args).await;
    assert!(dom.contains("<html lang=\"nl\">"), "{dom}");
    assert!(
        dom.contains(
            "Geblokkeerd omdat \u{201c}Federal ban\u{201d} (National Security Council decision, 2023-03-10) \
             voor dit toestel geldt: het toestel op 127.0.0.1 staat niet in het register"
        ),
        "{dom}"
    );
    assert!(dom.contains(id), "{dom}");

    let artifacts = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("helpdesk-nl.png");
    let _ = std::fs::remove_file(&shot);
    let screenshot = format!("--screenshot={}", shot.display());
    let mut args = dutch.to_vec();
    args.extend(["--window-size=1000,900", &screenshot, &helpdesk]);
    chromium(home.path(), &pac, "", &args).await;
    assert!(
        std::fs::metadata(&shot).map(|m| m.len() > 0).unwrap_or(false),
        "screenshot written"
    );

    // Without the password the browser gets the login challenge, not the page.
    let anonymous = format!("http://{}/helpdesk?q={id}", run.admin);
    let dom = chromium(home.path(), &pac, "", &["--dump-dom", &anonymous]).await;
    assert!(!dom.contains("Federal ban"), "{dom}");
}

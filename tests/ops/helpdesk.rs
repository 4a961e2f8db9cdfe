//! The helpdesk page (`/helpdesk` on the admin listener): access, an event id read off
//! a real block page explained as HTML and JSON, explanations for a device and a
//! host, hostile input, and the log line each lookup leaves.

use base64::Engine as _;

use super::admin::admin;
use crate::support::*;

const KEY: &str = "helpdesk-s3cret";

fn with_helpdesk(mut opts: Opts) -> Opts {
    opts.files
        .push(("helpdesk.token".into(), format!("{KEY}\n").into_bytes()));
    opts.admin.push_str("helpdesk_token_file = \"helpdesk.token\"\n");
    opts
}

fn creds(user: &str, password: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Authorization: Basic {b64}\r\n")
}

async fn ask(run: &Running, path: &str, headers: &str) -> Response {
    admin(run.admin, "GET", path, &format!("{}{headers}", creds("anna", KEY))).await
}

fn json(r: &Response) -> serde_json::Value {
    assert_eq!(r.header("content-type"), Some("application/json"), "{}", r.text());
    serde_json::from_slice(&r.body).unwrap()
}

/// The event id on a block page: the text of its `<code>` element.
fn id_on_page(page: &str) -> String {
    let start = page.find("<code>").expect("event id on the page") + "<code>".len();
    let end = page[start..].find("</code>").unwrap() + start;
    page[start..end].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_key_it_is_404_and_without_the_right_password_401() {
    let run = Running::start(Opts::default());
    for path in [
        "/helpdesk",
        "/helpdesk/",
        "/helpdesk/api/event/x",
        "/helpdesk/api/explain?device=a&host=b",
    ] {
        let r = admin(run.admin, "GET", path, &creds("anna", KEY)).await;
        assert_eq!(r.status, 404, "{path} without a key");
    }
    drop(run);

    let run = Running::start(with_helpdesk(Opts {
        limits: "auth_failures_per_minute = 4\n".into(),
        ..Opts::default()
    }));
    let none = admin(run.admin, "GET", "/helpdesk", "").await;
    assert_eq!(none.status, 401);
    assert_eq!(
        none.header("www-authenticate"),
        Some("Basic realm=\"slagboom helpdesk\", charset=\"UTF-8\"")
    );
    for (user, password) in [
        ("anna", "wrong"),
        ("anna", "helpdesk-s3cre"),
        ("anna", "helpdesk-s3cret "),
    ] {
        let r = admin(run.admin, "GET", "/helpdesk", &creds(user, password)).await;
        assert_eq!(r.status, 401, "{password:?}");
        assert!(r.header("www-authenticate").is_some());
    }
    let bearer = admin(
        run.admin,
        "GET",
        "/helpdesk/api/event/x",
        &format!("Authorization: Bearer {KEY}\r\n"),
    )
    .await;
    assert_eq!(bearer.status, 401, "only Basic");
    // Four wrong credentials from this address in a minute: now even the right
    // password waits.
    let limited = ask(&run, "/helpdesk", "").await;
    assert_eq!(limited.status, 429);
    drop(run);

    let run = Running::start(with_helpdesk(Opts::default()));
    let ok = admin(run.admin, "GET", "/helpdesk", &creds("any user name", KEY)).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("content-type"), Some("text/html; charset=utf-8"));
    let csp = ok.header("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("form-action 'self'"),
        "{csp}"
    );
    assert_eq!(ok.header("cache-control"), Some("no-store"));
    let page = ok.text();
    assert!(page.contains("<input id=\"q\" name=\"q\""), "{page}");
    assert_eq!(
        page.matches("<input").count(),
        3,
        "one box, the optional time, the language"
    );
    assert!(
        !page.contains("<script") && !page.contains("src=") && !page.contains("href="),
        "self-contained"
    );
    let post = admin(run.admin, "POST", "/helpdesk", &creds("anna", KEY)).await;
    assert_eq!(post.status, 405);
    assert_eq!(ask(&run, "/helpdesk/elsewhere", "").await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_id_from_a_block_page_is_explained_in_html_and_json() {
    let run = Running::start(with_helpdesk(Opts::default()));
    // A covered federal device asks for TikTok over plain HTTP and gets the Dutch
    // block page; the agent is read the event id off it.
    let req = get(
        "http://www.tiktok.com/foryou",
        "www.tiktok.com",
        Some(("fed-cov", "tok-cov")),
        "Accept: text/html\r\nAccept-Language: nl-BE\r\n",
    );
    let blocked = raw(run.addr, &req).await;
    assert_eq!(blocked.status, 403);
    let id = id_on_page(&blocked.text());
    assert_eq!(id, blocked.event_id());

    let page = ask(&run, &format!("/helpdesk?q={id}"), "Accept-Language: nl\r\n").await;
    assert_eq!(page.status, 200);
    let html = page.text();
    let sentence = "Geblokkeerd omdat \u{201c}Federal ban\u{201d} (National Security Council decision, \
                    2023-03-10) geldt voor toestellen die de overheid federal betaalt; toestel fed-cov is \
                    gekocht door Org of fed-cov.";
    assert!(html.contains(sentence), "{html}");
    assert!(html.contains("<html lang=\"nl\">"));
    for fact in [
        id.as_str(),
        "fed-cov",
        "Org of fed-cov",
        "purchase full, subscription none, usage none",
        "covered",
        "www.tiktok.com:80",
        "tiktok (",
        "<td>fed</td>",
    ] {
        assert!(html.contains(fact), "{fact} missing: {html}");
    }
    assert!(html.contains("<tr class=\"decides\"><td>fed</td>"), "{html}");

    let api = ask(&run, &format!("/helpdesk/api/event/{id}"), "").await;
    assert_eq!(api.status, 200);
    let j = json(&api);
    assert_eq!(j["found"], true);
    assert_eq!(j["outcome"], "blocked");
    assert_eq!(j["event"]["event"]["id"], id.as_str());
    assert_eq!(j["event"]["event"]["action"], "blocked");
    assert_eq!(j["event"]["rule"]["ruleset"], "tiktok");
    assert_eq!(j["policy"]["id"], "fed");
    assert_eq!(
        j["policy"]["reference"],
        "National Security Council decision, 2023-03-10"
    );
    assert_eq!(j["device"]["id"], "fed-cov");
    assert_eq!(j["device"]["purchase"], "full");
    assert_eq!(j["explain"]["decision"], "block");
    assert_eq!(j["configuration_changed"], false);
    assert_eq!(j["policy_version"], j["policy_version_now"]);
    assert!(
        j["summary"]
            .as_str()
            .unwrap()
            .starts_with("Blocked because \u{201c}Federal ban\u{201d}"),
        "English without Accept-Language: {j}"
    );
    // The JSON twin says what the SIEM has.
    let deadline = std::time::Instant::now() + DEADLINE;
    let event = loop {
        if let Some(e) = run.events().into_iter().find(|e| e["event"]["id"] == id.as_str()) {
            break e;
        }
        assert!(std::time::Instant::now() < deadline, "event {id} not delivered");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(j["event"], event);

    // The same page in each language, by Accept-Language or by the form's choice.
    for (header, path, opening) in [
        (
            "Accept-Language: fr-BE, nl;q=0.5\r\n",
            format!("/helpdesk?q={id}"),
            "Bloqué parce que «\u{a0}Federal ban\u{a0}»",
        ),
        (
            "Accept-Language: de\r\n",
            format!("/helpdesk?q={id}"),
            "Gesperrt, weil \u{201e}Federal ban\u{201c}",
        ),
        (
            "Accept-Language: de\r\n",
            format!("/helpdesk?q={id}&lang=en"),
            "Blocked because \u{201c}Federal ban\u{201d}",
        ),
    ] {
        let r = ask(&run, &path, header).await;
        assert!(r.text().contains(opening), "{header}: {}", r.text());
    }

    // An id this proxy does not keep: 404 with what to do next.
    let other = "0193d0e0-0000-7000-8000-000000000000";
    let missing = ask(&run, &format!("/helpdesk/api/event/{other}"), "").await;
    assert_eq!(missing.status, 404);
    let m = json(&missing);
    assert_eq!(m["found"], false);
    assert!(m["summary"].as_str().unwrap().contains("search the SIEM for event.id"));

    // After a reload that changes the registry, the event still reads as it was
    // recorded, and the page says today's facts are today's.
    let before = j["policy_version"].as_str().unwrap().to_owned();
    let registry = run.dir.path().join("devices.csv");
    let mut csv = std::fs::read_to_string(&registry).unwrap();
    csv.push_str("new-dev,federal,New org,owner-new,full,none,none,false,,,,active\n");
    std::fs::write(&registry, csv).unwrap();
    run.signal("-HUP");
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        let ready = admin(run.admin, "GET", "/readyz", "").await.text();
        if !ready.contains(&before) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no reload: {ready}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let j = json(&ask(&run, &format!("/helpdesk/api/event/{id}"), "").await);
    assert_eq!(j["configuration_changed"], true);
    assert_eq!(j["policy_version"], before.as_str());
    assert_ne!(j["policy_version_now"], before.as_str());
    assert_eq!(j["event"]["labels"]["policy_version"], before.as_str());
    let html = ask(&run, &format!("/helpdesk?q={id}"), "").await.text();
    assert!(
        html.contains("The configuration has changed since this event"),
        "{html}"
    );
    assert!(html.contains(&format!("{before} (now ")), "{html}");

    // Each lookup is an operational log line naming the user.
    let log = std::fs::read_to_string(run.dir.path().join("stderr.log")).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("helpdesk lookup") && l.contains(&id))
        .unwrap_or_else(|| panic!("no lookup line: {log}"));
    assert!(line.contains("user=\"anna\""), "{line}");
    assert!(
        line.contains("outcome=\"blocked\"") || line.contains("outcome=blocked"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_and_a_host_get_the_explain_answer() {
    let run = Running::start(with_helpdesk(Opts::default()));
    let cases = [
        (
            "device=vl-cov&host=www.tiktok.com",
            "blocked",
            "Blocked because \u{201c}Flemish ban\u{201d} (Flemish decision, 2023-03-09) applies to devices \
             that the authority flanders pays for; device vl-cov is on a subscription partly paid by Org of vl-cov.",
        ),
        (
            "device=fed-adv&host=www.tiktok.com",
            "warned",
            "Warned, not blocked: \u{201c}Federal ban\u{201d} (National Security Council decision, 2023-03-10) \
             advises against www.tiktok.com on personal devices used for work, and device fed-adv is one.",
        ),
        (
            "device=fed-priv&host=www.tiktok.com",
            "allowed",
            "Allowed: device fed-priv is neither paid for by its authority nor used for work, so no ban applies to it.",
        ),
        (
            "device=fed-cov&host=example.org",
            "allowed",
            "Allowed: no ruleset lists example.org.",
        ),
        (
            "device=fed-cov&host=www.tiktok.com&at=2023-03-01T12:00:00Z",
            "allowed",
            "Allowed: \u{201c}Federal ban\u{201d} is not in force at 2023-03-01 12:00:00 UTC.",
        ),
        (
            "device=fut-cov&host=www.tiktok.com",
            "allowed",
            "Allowed: \u{201c}Not yet\u{201d} is not in force at ",
        ),
        (
            "device=nobody&host=www.tiktok.com",
            "refused",
            "Refused: device nobody is not in the registry, and unknown devices are refused.",
        ),
    ];
    for (query, outcome, summary) in cases {
        let r = ask(&run, &format!("/helpdesk/api/explain?{query}"), "").await;
        assert_eq!(r.status, 200, "{query}");
        let j = json(&r);
        assert_eq!(j["outcome"], outcome, "{query}: {j}");
        assert!(j["summary"].as_str().unwrap().starts_with(summary), "{query}: {j}");
        // The explanation is `slagboom explain --json`'s.
        let device = query.split('&').next().unwrap().trim_start_matches("device=");
        let host = query.split('&').nth(1).unwrap().trim_start_matches("host=");
        let mut args = vec![
            "explain",
            "-c",
            "slagboom.toml",
            "--device",
            device,
            "--host",
            host,
            "--json",
        ];
        let at = query.split('&').nth(2).map(|a| a.trim_start_matches("at="));
        if let Some(at) = at {
            args.extend(["--at", at]);
        }
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_slagboom"))
            .args(&args)
            .current_dir(run.dir.path())
            .output()
            .unwrap();
        let mut cli: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut web = j["explain"].clone();
        // The registry's path is as each was given the configuration.
        for v in [&mut cli, &mut web] {
            if let Some(src) = v["device"]["source"].as_str() {
                v["device"]["source"] = src.rsplit('/').next().unwrap().into();
            }
        }
        if at.is_none() {
            // "now" differs by the moments between the two questions.
            cli["at"] = serde_json::Value::Null;
            web["at"] = serde_json::Value::Null;
        }
        assert_eq!(web, cli, "{query}");
    }
    // The page's one box takes "device host [time]".
    let page = ask(&run, "/helpdesk?q=vl-cov+www.tiktok.com", "").await.text();
    assert!(page.contains("class=\"answer blocked\""), "{page}");
    assert!(
        page.contains("value=\"vl-cov www.tiktok.com\""),
        "the question stays in the box"
    );
    let dated = ask(&run, "/helpdesk?q=fed-cov+www.tiktok.com+2023-03-01T12%3A00", "")
        .await
        .text();
    assert!(dated.contains("is not in force at 2023-03-01 12:00:00 UTC"), "{dated}");
    let side = ask(
        &run,
        "/helpdesk?q=fed-cov+www.tiktok.com&at=2023-03-01T12%3A00%3A00",
        "",
    )
    .await
    .text();
    assert!(side.contains("is not in force at 2023-03-01 12:00:00 UTC"), "{side}");
    // Unreadable questions: 400 with the question quoted back.
    for (path, status) in [
        ("/helpdesk/api/explain?device=fed-cov", 400),
        ("/helpdesk/api/explain?device=fed-cov&host=bad%20host", 400),
        ("/helpdesk/api/explain?device=fed-cov&host=x.test&at=yesterday", 400),
        ("/helpdesk?q=one+two+three+four", 400),
        ("/helpdesk?q=not-an-id", 400),
    ] {
        assert_eq!(ask(&run, path, "").await.status, status, "{path}");
    }
    let long = format!("/helpdesk?q={}", "a".repeat(5000));
    assert_eq!(ask(&run, &long, "").await.status, 414);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_is_shown_escaped() {
    let run = Running::start(with_helpdesk(Opts::default()));
    let hostile = "%3Cscript%3Ealert(1)%3C%2Fscript%3E%22%3E%3Cimg%20src%3Dx%3E";
    let r = ask(&run, &format!("/helpdesk?q={hostile}"), "").await;
    assert_eq!(r.status, 400);
    let html = r.text();
    assert!(!html.contains("<script>") && !html.contains("<img"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x&gt;"),
        "{html}"
    );

    let id_like = "%3Cb%3E0193d0e0-0000-7000-8000-0000000%3C%2Fb%3E";
    let r = ask(&run, &format!("/helpdesk/api/event/{id_like}"), "").await;
    assert_eq!(r.status, 404);
    let j = json(&r);
    assert_eq!(
        j["event_id"], "<b>0193d0e0-0000-7000-8000-0000000</b>",
        "JSON carries it as data"
    );
    let r = ask(&run, &format!("/helpdesk?q={id_like}+www.tiktok.com"), "").await;
    let html = r.text();
    assert!(!html.contains("<b>"), "{html}");
    assert!(html.contains("&lt;b&gt;0193d0e0"), "{html}");

    // A device id and a host that are markup: escaped in the box and in the answer.
    let r = ask(&run, "/helpdesk?q=%22%3E%3Csvg%2Fonload%3Dx%3E+www.tiktok.com", "").await;
    let html = r.text();
    assert!(!html.contains("<svg"), "{html}");
    assert!(
        html.contains("value=\"&quot;&gt;&lt;svg/onload=x&gt; www.tiktok.com\""),
        "{html}"
    );

    // Garbage credentials and control bytes: clear answers, and the page serves on.
    for (auth, status) in [
        // A control byte in a header value: the HTTP layer's own 400.
        ("Authorization: Basic \u{7f}\u{7f}\r\n", 400),
        ("Authorization: Basic ====\r\n", 401),
        ("Authorization: basic\r\n", 401),
        ("Authorization: Basic w6k6w6k=\r\n", 401),
    ] {
        let r = admin(run.admin, "GET", "/helpdesk", auth).await;
        assert_eq!(r.status, status, "{auth:?}");
    }
    assert_eq!(ask(&run, "/helpdesk?q=%00%01%02", "").await.status, 400);
    assert_eq!(ask(&run, "/helpdesk", "").await.status, 200);
}

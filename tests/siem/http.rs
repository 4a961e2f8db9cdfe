//! HTTP sinks against an in-test HTTP server that stands in for Splunk HEC and
//! Elasticsearch (neither runs here) and checks the exact request format: envelopes,
//! headers, batching, retry on 503, and the poison-event path.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::collector::*;
use crate::support::*;

fn hec_sink(addr: std::net::SocketAddr, dir: &std::path::Path, extra: &str) -> String {
    std::fs::write(dir.join("hec.token"), "0000-hec-token\n").unwrap();
    format!(
        "[[log.sink]]\nname = \"splunk\"\ntype = \"http\"\nflavour = \"splunk-hec\"\nurl = \"http://{addr}/services/collector/event\"\ntoken_file = \"{}\"\n{extra}\n",
        dir.join("hec.token").display()
    )
}

/// Every envelope in a HEC request body.
fn hec_events(body: &[u8]) -> Vec<Value> {
    serde_json::Deserializer::from_slice(body)
        .into_iter::<Value>()
        .map(|v| v.unwrap())
        .collect()
}

async fn wait_until(what: &str, f: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn splunk_hec_envelopes_batches_and_token() {
    let hec = HttpCollector::start(Arc::new(|_, _| (200, "{\"text\":\"Success\",\"code\":0}".into()))).await;
    let keys = tempfile::tempdir().unwrap();
    let proxy = Proxy::start(Opts {
        sinks: hec_sink(hec.addr, keys.path(), "batch_events = 10\nbatch_timeout = \"100ms\""),
        ..Opts::default()
    })
    .await;
    let ids = make_events(proxy.addr, 25).await;
    wait_until("25 events at the collector", || {
        hec.requests().iter().map(|r| hec_events(&r.body).len()).sum::<usize>() >= 25
    })
    .await;
    let reqs = hec.requests();
    let mut seen = Vec::new();
    for r in &reqs {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/services/collector/event");
        assert_eq!(r.header("authorization"), Some("Splunk 0000-hec-token"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        let events = hec_events(&r.body);
        assert!(events.len() <= 10, "batch_events respected");
        for env in events {
            let keys: Vec<&str> = env.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(keys, ["time", "host", "source", "sourcetype", "event"]);
            assert!(env["time"].as_f64().unwrap() > 1.7e9);
            assert_eq!(env["host"], "test-proxy");
            assert_eq!(env["source"], "slagboom");
            assert_eq!(env["sourcetype"], "slagboom:ecs");
            assert_eq!(env["event"]["ecs"]["version"], "8.11.0");
            seen.push(env["event"]["event"]["id"].as_str().unwrap().to_owned());
        }
    }
    assert!(reqs.len() >= 3);
    assert_eq!(seen, ids, "every event, in order");
}

#[tokio::test]
async fn retries_503_with_backoff_until_delivered() {
    // The first three requests fail; then the collector recovers.
    let hec = HttpCollector::start(Arc::new(|n, _| {
        if n < 3 {
            (503, "busy".into())
        } else {
            (200, "{}".into())
        }
    }))
    .await;
    let keys = tempfile::tempdir().unwrap();
    let proxy = Proxy::start(Opts {
        sinks: hec_sink(hec.addr, keys.path(), "batch_timeout = \"50ms\""),
        ..Opts::default()
    })
    .await;
    let ids = make_events(proxy.addr, 5).await;
    wait_until("delivery after the 503s", || {
        let reqs = hec.requests();
        reqs.len() > 3 && reqs[3..].iter().map(|r| hec_events(&r.body).len()).sum::<usize>() >= 5
    })
    .await;
    let delivered: Vec<String> = hec.requests()[3..]
        .iter()
        .flat_map(|r| hec_events(&r.body))
        .map(|e| e["event"]["event"]["id"].as_str().unwrap().to_owned())
        .collect();
    for id in &ids {
        assert!(delivered.contains(id), "{id}");
    }
    let m = proxy.metrics.encode();
    assert!(m.contains("slagboom_sink_errors_total{sink=\"splunk\"} 3"), "{m}");
}

#[tokio::test]
async fn a_4xx_event_is_dead_lettered_and_the_rest_delivered() {
    // The collector refuses any request holding the auth_failed event of a request to
    // poison.test (as Splunk refuses a malformed event).
    let hec = HttpCollector::start(Arc::new(|_, r: &Received| {
        if String::from_utf8_lossy(&r.body).contains("poison.test") {
            (400, "{\"text\":\"Invalid data format\",\"code\":6}".into())
        } else {
            (200, "{}".into())
        }
    }))
    .await;
    let keys = tempfile::tempdir().unwrap();
    let proxy = Proxy::start(Opts {
        sinks: hec_sink(hec.addr, keys.path(), "batch_events = 50\nbatch_timeout = \"300ms\""),
        ..Opts::default()
    })
    .await;
    let mut ids = make_events(proxy.addr, 3).await;
    let bad = raw(
        proxy.addr,
        "CONNECT poison.test:443 HTTP/1.1\r\nHost: poison.test:443\r\n\r\n",
    )
    .await
    .event_id();
    ids.extend(make_events(proxy.addr, 3).await);
    let dead = proxy.dir.path().join("spool/dead-letter.jsonl");
    wait_until("the dead letter", || {
        std::fs::read_to_string(&dead).is_ok_and(|t| t.contains(&bad))
    })
    .await;
    let text = std::fs::read_to_string(&dead).unwrap();
    assert_eq!(text.lines().count(), 1, "only the poison event: {text}");
    let v: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(v["destination"]["domain"], "poison.test");
    wait_until("the others", || {
        let got: Vec<Value> = hec
            .requests()
            .iter()
            .filter(|r| !String::from_utf8_lossy(&r.body).contains("poison.test"))
            .flat_map(|r| hec_events(&r.body))
            .collect();
        ids.iter()
            .all(|id| got.iter().any(|e| e["event"]["event"]["id"] == id.as_str()))
    })
    .await;
    let m = proxy.metrics.encode();
    assert!(m.contains("slagboom_dead_letters_total{sink=\"splunk\"} 1"), "{m}");
}

#[tokio::test]
async fn elastic_bulk_ndjson_and_item_errors() {
    // Item 1 of the first request is refused (400), item 2 must be retried (429).
    let es = HttpCollector::start(Arc::new(|n, r: &Received| {
        let lines = String::from_utf8_lossy(&r.body).lines().count() / 2;
        if n == 0 && lines >= 3 {
            let mut items = vec!["{\"create\":{\"status\":201}}".to_owned(); lines];
            items[1] = "{\"create\":{\"status\":400,\"error\":{\"type\":\"mapper_parsing_exception\"}}}".into();
            items[2] = "{\"create\":{\"status\":429}}".into();
            (200, format!("{{\"errors\":true,\"items\":[{}]}}", items.join(",")))
        } else {
            (200, "{\"errors\":false,\"items\":[]}".into())
        }
    }))
    .await;
    let proxy = Proxy::start(Opts {
        sinks: format!(
            "[[log.sink]]\nname = \"es\"\ntype = \"http\"\nflavour = \"elastic-bulk\"\nurl = \"http://{}/\"\nindex = \"logs-slagboom-test\"\nbatch_timeout = \"300ms\"\n",
            es.addr
        ),
        ..Opts::default()
    })
    .await;
    let ids = make_events(proxy.addr, 4).await;
    wait_until("the retry of item 2", || es.requests().len() >= 2).await;
    let reqs = es.requests();
    let first = &reqs[0];
    assert_eq!(first.path, "/_bulk");
    assert_eq!(first.header("content-type"), Some("application/x-ndjson"));
    let lines: Vec<Value> = String::from_utf8_lossy(&first.body)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines[0],
        serde_json::json!({"create": {"_index": "logs-slagboom-test"}})
    );
    assert_eq!(lines[1]["event"]["id"], ids[0].as_str());
    assert!(first.body.ends_with(b"\n"));
    let retried = String::from_utf8_lossy(&reqs[1].body).into_owned();
    assert!(
        retried.contains(&ids[2]) && !retried.contains(&ids[1]),
        "only the 429 item is sent again"
    );
    let dead = proxy.dir.path().join("spool/dead-letter.jsonl");
    wait_until("dead letter", || {
        std::fs::read_to_string(&dead).is_ok_and(|t| t.contains(&ids[1]))
    })
    .await;
}

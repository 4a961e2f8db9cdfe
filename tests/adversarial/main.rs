//! The adversarial suite (SPEC §6 to §9): hostile and evasive input on every listener
//! this process serves, each case checked for its exact answer, what reached the
//! origins, its event, and a proxy that still serves afterwards. The transparent
//! listener's cases run in the namespace test (`tests/ops/transparent.rs`), which alone
//! can redirect.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../proxy/support.rs"]
mod support;

mod cases;
mod harness;
mod resources;
mod retry;

use std::collections::BTreeMap;
use std::sync::Arc;

use harness::Bench;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_case_on_every_listener() {
    let bench = Arc::new(Bench::start().await);
    let cases = cases::all(&bench);
    let mut by_kind: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    for case in cases {
        for on in case.on {
            let (bench, c, on) = (bench.clone(), case.clone(), *on);
            let started = std::time::Instant::now();
            let run = tokio::spawn(async move { bench.run(&c, on).await }).await;
            if started.elapsed() > std::time::Duration::from_millis(900) {
                println!("slow: {} {} on {on:?}: {:?}", case.kind, case.name, started.elapsed());
            }
            if let Err(e) = run {
                let msg = e
                    .into_panic()
                    .downcast::<String>()
                    .map(|s| *s)
                    .unwrap_or_else(|_| "panicked".into());
                failures.push(msg);
            }
        }
        let entry = by_kind.entry(case.kind).or_default();
        entry.0 += 1;
        entry.1 += case.on.len();
    }
    let total: usize = by_kind.values().map(|(c, _)| c).sum();
    for (kind, (n, runs)) in &by_kind {
        println!("{kind}: {n} cases, {runs} runs");
    }
    println!("{total} cases");
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n---\n")
    );
    assert!(total >= 60, "at least 60 cases, got {total}");
}

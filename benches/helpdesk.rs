//! The helpdesk's recent-events index (SPEC §15), on one core: recording one blocked
//! event into an index full at the default 100,000 (the oldest dropped), a lookup by
//! id, and a whole answer for an event id (the sentence, the facts and today's policy
//! trace) rendered as the HTML page.
//!
//! With `--bench`, it also measures memory: the resident set after filling an index of
//! 100,000 realistic blocked events, printed once as KiB in all and bytes per event.

use std::sync::Arc;
use std::time::SystemTime;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use slagboom::events::{Action, CoverageLabel, DeviceRef, Event, IdentityLabel, Listener, Reason, RuleRef};
use slagboom::helpdesk::{answer, page, recent::Recent};
use slagboom::registry::Coverage;
use slagboom::respond::Lang;
use slagboom::state::Snapshot;

const CAPACITY: usize = 100_000;

/// A blocked CONNECT as the pipeline indexes it (after `[privacy]`).
fn blocked(i: usize, version: &Arc<str>, org: &Arc<str>) -> Event {
    let mut e = Event::new(
        Action::Blocked,
        "10.20.30.40:51234".parse().unwrap_or_else(|_| unreachable!()),
    );
    e.timestamp = SystemTime::now();
    e.observer = Arc::from("proxy-1");
    e.reason = Some(Reason::Policy);
    e.coverage = CoverageLabel::Known(Coverage::Covered);
    e.destination_domain = Some("www.tiktok.com".into());
    e.destination_port = Some(443);
    e.server_name = Some("www.tiktok.com".into());
    e.device = Some(DeviceRef {
        id: Arc::from(format!("fin-laptop-{i:06}")),
        organisation: Some(org.clone()),
        owner: Some(Arc::from(format!("staff-{i:06}"))),
    });
    e.rule = Some(RuleRef {
        id: "tiktok.com".into(),
        name: "TikTok".into(),
        ruleset: "tiktok".into(),
        reference: "be-federal-tiktok".into(),
    });
    e.listener = Some(Listener::Explicit);
    e.identity = Some(IdentityLabel::Token);
    e.policy_version = Some(version.clone());
    e
}

fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4
}

fn memory() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let version: Arc<str> = Arc::from("fd5fcc5a9ee5e1b5");
    let org: Arc<str> = Arc::from("FPS Finance");
    let events: Vec<Event> = (0..CAPACITY).map(|i| blocked(i, &version, &org)).collect();
    let before = rss_kib();
    let index = Recent::default();
    for e in &events {
        index.insert(e, CAPACITY);
    }
    let after = rss_kib();
    let per_event = (after.saturating_sub(before) * 1024) / CAPACITY as u64;
    println!(
        "helpdesk index: {CAPACITY} events, {} KiB resident, {per_event} bytes per event",
        after.saturating_sub(before)
    );
    black_box(index.len());
}

fn bench(c: &mut Criterion) {
    memory();
    let version: Arc<str> = Arc::from("fd5fcc5a9ee5e1b5");
    let org: Arc<str> = Arc::from("FPS Finance");
    let index = Recent::default();
    let mut ids = Vec::new();
    for i in 0..CAPACITY {
        let e = blocked(i, &version, &org);
        ids.push(e.id.clone());
        index.insert(&e, CAPACITY);
    }
    let next = blocked(0, &version, &org);
    c.bench_function("helpdesk/record_into_full_index", |b| {
        b.iter_batched(
            || {
                let mut e = next.clone();
                e.id = slagboom::events::new_id();
                e
            },
            |e| index.insert(black_box(&e), CAPACITY),
            criterion::BatchSize::SmallInput,
        )
    });
    let id = ids[CAPACITY - 1].clone();
    c.bench_function("helpdesk/lookup_by_id", |b| b.iter(|| index.get(black_box(&id))));

    let snap = Snapshot::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/slagboom.toml"
    )))
    .unwrap_or_else(|e| panic!("{e}"));
    let mut e = blocked(0, &version, &org);
    e.device = Some(DeviceRef {
        id: Arc::from("fin-laptop-001"),
        organisation: Some(org.clone()),
        owner: None,
    });
    let recent = Recent::default();
    recent.insert(&e, 10);
    c.bench_function("helpdesk/answer_event_as_html", |b| {
        b.iter(|| {
            let a = answer::event(&snap, &recent, black_box(&e.id), Lang::Nl);
            page::html(Lang::Nl, &page::Asked { q: &e.id, at: "" }, Some(&a))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Event encoding (ECS, CEF, RFC 5424, the spool record) and the durable spool
//! (append, then append + read back), in events per second.

use std::time::{Duration, UNIX_EPOCH};

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use slagboom::config::OnSpoolFull;
use slagboom::events::format::Body;
use slagboom::events::spool::Spool;
use slagboom::events::{cef, ecs, rfc5424, Action, CoverageLabel, DeviceRef, Event, Reason, Record, RuleRef};
use slagboom::registry::Coverage;

fn event() -> Event {
    let mut e = Event::new(
        Action::Blocked,
        "10.20.30.41:52814".parse().unwrap_or_else(|_| unreachable!()),
    );
    e.timestamp = UNIX_EPOCH + Duration::from_millis(1_764_000_002_000);
    e.observer = "slagboom-1".into();
    e.reason = Some(Reason::DomainFronting);
    e.coverage = CoverageLabel::Known(Coverage::Covered);
    e.destination_domain = Some("cdn.example.net".into());
    e.destination_ip = Some("192.0.2.10".parse().unwrap_or_else(|_| unreachable!()));
    e.destination_port = Some(443);
    e.server_name = Some("www.tiktok.com".into());
    e.device = Some(DeviceRef {
        id: "fin-laptop-001".into(),
        organisation: Some("FPS Finance".into()),
        owner: Some("staff-10231".into()),
    });
    e.rule = Some(RuleRef {
        id: "tiktok.com".into(),
        name: "TikTok".into(),
        ruleset: "tiktok".into(),
        reference: "be-federal-tiktok".into(),
    });
    e.duration = Some(Duration::from_micros(912));
    e.source_bytes = Some(517);
    e.destination_bytes = Some(0);
    e
}

fn encode(c: &mut Criterion) {
    let e = event();
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(1));
    let mut out = Vec::with_capacity(2048);
    g.bench_function("ecs", |b| {
        b.iter(|| {
            out.clear();
            ecs::encode(black_box(&e), &mut out);
        })
    });
    g.bench_function("cef", |b| {
        b.iter(|| {
            out.clear();
            cef::encode(black_box(&e), &mut out);
        })
    });
    g.bench_function("rfc5424", |b| {
        b.iter(|| {
            out.clear();
            rfc5424::encode(black_box(&e), 16, Body::Ecs, &mut out);
        })
    });
    g.bench_function("spool_record", |b| {
        b.iter(|| Record::from_event(black_box(&e)).to_bytes())
    });
    let rec = Record::from_event(&e);
    g.bench_function("ecs_decode_for_cef", |b| b.iter(|| rec.event()));
    g.finish();
}

fn spool(c: &mut Criterion) {
    let record = Record::from_event(&event()).to_bytes();
    let mut g = c.benchmark_group("spool");
    g.throughput(Throughput::Elements(1));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let s = Spool::open(dir.path(), 1 << 40, OnSpoolFull::DropOldest).unwrap_or_else(|e| panic!("{e}"));
    g.bench_function("append", |b| b.iter(|| s.append(black_box(&record))));
    g.throughput(Throughput::Elements(100));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let s = Spool::open(dir.path(), 1 << 40, OnSpoolFull::DropOldest).unwrap_or_else(|e| panic!("{e}"));
    let mut reader = s.reader("bench");
    g.bench_function("append_and_read_back_batch_of_100", |b| {
        b.iter(|| {
            for _ in 0..100 {
                let _ = s.append(&record);
            }
            let batch = reader.read_available(100, usize::MAX);
            reader.ack(batch.end);
            black_box(batch.records.len())
        })
    });
    g.finish();
}

criterion_group!(benches, encode, spool);
criterion_main!(benches);

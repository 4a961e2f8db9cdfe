//! Delivery throughput, in events per second, from the spool through one sink to a
//! collector on loopback, with acknowledgement tracking: TCP syslog (an event counts
//! once the collector's TCP stack acknowledged its bytes) and RELP (once the collector
//! answered it, up to 128 events unanswered). The collectors are minimal servers in
//! threads of this process (a reader that discards; a RELP responder that answers
//! `200 OK` to every frame): they measure the sender, not rsyslog.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use slagboom::config::{Format, OnSpoolFull, Transport as Kind};
use slagboom::events::sink::relp::{frame, Relp};
use slagboom::events::sink::syslog::Syslog;
use slagboom::events::sink::{Runner, Transport};
use slagboom::events::spool::Spool;
use slagboom::events::{Action, Event, Reason, Record};
use slagboom::metrics::Metrics;
use tokio::sync::watch;

/// Events per measured round.
const ROUND: u64 = 20_000;

fn record() -> Vec<u8> {
    let mut e = Event::new(
        Action::AuthFailed,
        "10.20.30.41:52814".parse().unwrap_or_else(|_| unreachable!()),
    );
    e.timestamp = UNIX_EPOCH + Duration::from_millis(1_764_000_002_000);
    e.observer = "slagboom-1".into();
    e.reason = Some(Reason::CredentialsMissing);
    e.destination_domain = Some("www.example.org".into());
    e.destination_port = Some(443);
    Record::from_event(&e).to_bytes()
}

/// A loopback collector serving each connection with `serve` in a thread of its own.
fn collector(serve: fn(TcpStream)) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}")).to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream));
        }
    });
    addr
}

/// Reads and discards.
fn discard(mut s: TcpStream) {
    let mut buf = vec![0u8; 1 << 16];
    while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
}

/// Answers `200 OK` to every RELP frame.
fn answer_relp(mut s: TcpStream) {
    let _ = s.set_nodelay(true);
    let mut inbox = Vec::new();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let Ok(n) = s.read(&mut buf) else { return };
        if n == 0 {
            return;
        }
        inbox.extend_from_slice(&buf[..n]);
        let mut used = 0;
        while let Ok(Some((f, len))) = frame::parse(&inbox[used..]) {
            let answer: &[u8] = if f.command == "open" {
                b"200 OK\nrelp_version=0\ncommands=syslog"
            } else {
                b"200 OK"
            };
            frame::encode(f.txnr, "rsp", answer, &mut out);
            used += len;
        }
        inbox.drain(..used);
        if s.write_all(&out).is_err() {
            return;
        }
        out.clear();
    }
}

/// Appends `ROUND` events per iteration and waits until the sink has delivered them.
fn deliver(c: &mut Criterion, name: &str, transport: impl Fn() -> Transport) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let spool = Spool::open(dir.path(), 1 << 40, OnSpoolFull::DropOldest).unwrap_or_else(|e| panic!("{e}"));
    let (delivered_tx, delivered) = watch::channel(Default::default());
    let (_stop_tx, stop) = watch::channel(false);
    let runner = Runner {
        name: name.to_owned(),
        transport: transport(),
        reader: spool.reader(name),
        metrics: Arc::new(Metrics::new()),
        dead_letter: dir.path().join("dead-letter.jsonl"),
        stall: Duration::from_secs(30),
        stop,
        delivered: delivered_tx,
        pending: Arc::new(AtomicI64::new(0)),
    };
    rt.spawn(runner.run());
    let record = record();
    let mut g = c.benchmark_group("deliver");
    g.throughput(Throughput::Elements(ROUND));
    g.sample_size(10);
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let started = Instant::now();
            for _ in 0..iters {
                for _ in 0..ROUND {
                    let _ = spool.append(&record);
                }
                let end = spool.end();
                let mut rx = delivered.clone();
                rt.block_on(async {
                    let wait = rx.wait_for(|p| *p >= end);
                    let _ = tokio::time::timeout(Duration::from_secs(60), wait).await;
                });
            }
            started.elapsed()
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let tcp = collector(discard);
    deliver(c, "syslog_tcp_acknowledged", || {
        Transport::Syslog(Syslog::new(
            tcp.clone(),
            Kind::Tcp,
            Format::Rfc5424,
            16,
            None,
            Duration::from_secs(30),
        ))
    });
    let relp = collector(answer_relp);
    deliver(c, "relp_window_128", || {
        Transport::Relp(Relp::new(relp.clone(), Format::Rfc5424, 16, Duration::from_secs(30)))
    });
}

criterion_group!(delivery, benches);
criterion_main!(delivery);

//! RADIUS accounting, in packets per second on one core: the codec alone (parse,
//! verify the Request Authenticator, read the attributes, build the answer), and the
//! whole handling of a Start (a registry lookup by MAC and a binding).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use slagboom::events::EventLog;
use slagboom::metrics::Metrics;
use slagboom::radius::packet::{parse, request, response};
use slagboom::radius::Accounting;
use slagboom::state::{Snapshot, State};

const SECRET: &[u8] = b"testing123";

fn start(n: u16) -> Vec<u8> {
    let session = format!("session-{n:05}");
    let [hi, lo] = n.to_be_bytes();
    request(
        lo,
        &[
            (40, &1u32.to_be_bytes()),
            (8, &[10, 77, hi, lo]),
            (31, b"AA-BB-CC-DD-EE-01"),
            (44, session.as_bytes()),
            (4, &[10, 20, 0, 5]),
        ],
        SECRET,
    )
}

fn codec(c: &mut Criterion) {
    let bytes = start(1);
    let mut g = c.benchmark_group("radius");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_verify_answer", |b| {
        b.iter(|| {
            let p = parse(black_box(&bytes)).unwrap_or_else(|e| panic!("{e}"));
            assert!(p.verify(SECRET));
            let acct = p.accounting().unwrap_or_else(|e| panic!("{e}"));
            black_box((acct.framed_ip, response(&p, SECRET)))
        })
    });

    // The whole Start: lookup by MAC, bind. 8,192 different packets, more than the
    // retransmission memory holds, so none is taken for a retransmission.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path();
    let write = |name: &str, text: &str| std::fs::write(d.join(name), text).unwrap_or_else(|e| panic!("{e}"));
    write("radius.secret", "testing123\n");
    std::fs::create_dir_all(d.join("rules")).unwrap_or_else(|e| panic!("{e}"));
    write(
        "rules/t.toml",
        "id = \"t\"\ntitle = \"T\"\ndomains = [\"tiktok.com\"]\n",
    );
    write(
        "devices.csv",
        "device_id,authority,purchase,subscription,usage,macs,status\nphone,federal,full,none,none,aa:bb:cc:dd:ee:01,active\n",
    );
    write(
        "slagboom.toml",
        "[registry]\nsource = \"devices.csv\"\n[rules]\ndir = \"rules\"\n[log]\nspool_dir = \"spool\"\n\
         [radius]\nlisten = \"127.0.0.1:0\"\n[[radius.client]]\naddress = \"10.20.0.0/16\"\nsecret_file = \"radius.secret\"\n",
    );
    let snap = Snapshot::load(&d.join("slagboom.toml")).unwrap_or_else(|e| panic!("{e}"));
    let metrics = Arc::new(Metrics::new());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let events = rt.block_on(async { EventLog::start(&snap.config.log, metrics.clone()) });
    let events = events.unwrap_or_else(|e| panic!("{e}"));
    let acct = Accounting::new(Arc::new(State::new(snap)), Arc::default(), events, metrics);
    let nas: SocketAddr = "10.20.0.5:40000".parse().unwrap_or_else(|_| unreachable!());
    let packets: Vec<Vec<u8>> = (0..8192u16).map(start).collect();
    let mut n = 0usize;
    g.bench_function("handle_start", |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            black_box(acct.handle(&packets[n % packets.len()], nas, Instant::now()))
        })
    });
    g.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);

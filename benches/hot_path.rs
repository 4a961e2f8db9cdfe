//! The per-connection hot path, piece by piece: the ClientHello reader, a whole decision
//! (token check, registry, rules, policy), and loading a large registry.

use std::path::Path;
use std::time::Instant;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use sha2::{Digest, Sha256};
use slagboom::auth::{identify, Credentials, Identity};
use slagboom::host::Host;
use slagboom::policy::Subject;
use slagboom::registry::Registry;
use slagboom::state::Snapshot;
use slagboom::tls::client_hello;

fn client_hello(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/client_hello");
    let mut g = c.benchmark_group("client_hello");
    for name in ["rustls-tls13-sni.bin", "openssl-tls13-split.bin"] {
        let bytes = std::fs::read(root.join(name)).unwrap_or_default();
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(name, |b| b.iter(|| client_hello::parse(black_box(&bytes), 65536)));
    }
    g.finish();
}

/// The demo configuration with a token for its covered device.
fn decision(c: &mut Criterion) {
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("slagboom.toml");
    let snap = Snapshot::load(&cfg).unwrap_or_else(|e| panic!("{e}"));
    let header = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "fin-laptop-001:covered-demo-token"
        )
    );
    let now = time::OffsetDateTime::now_utc();
    let mut g = c.benchmark_group("decision");
    for host in ["www.tiktok.com", "www.belgium.be"] {
        g.bench_function(format!("token+decide {host}"), |b| {
            b.iter(|| {
                let creds = Credentials {
                    proxy_authorization: Some(header.as_bytes()),
                    client_cert_sha256: None,
                    source: "10.1.2.3".parse().unwrap_or_else(|_| unreachable!()),
                    bound: None,
                };
                let Ok(Identity::Device { device, .. }) = identify(&snap, black_box(&creds)) else {
                    unreachable!("the demo token is valid")
                };
                let host = Host::parse_authority(black_box(host))
                    .map(|(h, _)| h)
                    .unwrap_or_else(|_| unreachable!());
                snap.decide(&Subject::Device(snap.registry.device(device)), &host, now)
            })
        });
    }
    g.finish();
}

/// A registry of `n` devices (a third identified by address), as CSV.
fn registry_csv(n: usize) -> String {
    let mut out = String::with_capacity(n * 180);
    out.push_str("device_id,authority,organisation,owner,purchase,subscription,usage,professional_use,token_sha256,cert_sha256,addresses,status\n");
    for i in 0..n {
        let token = hex::encode(Sha256::digest(i.to_le_bytes()));
        let addr = if i % 3 == 0 {
            format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255)
        } else {
            String::new()
        };
        out.push_str(&format!(
            "dev-{i},federal,Org {},owner-{i},full,none,none,false,{token},,{addr},active\n",
            i % 50
        ));
    }
    out
}

fn registry_load(c: &mut Criterion) {
    let mut g = c.benchmark_group("registry");
    g.sample_size(10);
    let csv = registry_csv(100_000);
    g.bench_function("load 100k devices (CSV)", |b| {
        b.iter(|| Registry::parse(Path::new("devices.csv"), black_box(&csv)).map(|r| r.len()))
    });
    g.finish();
    // One measured load of a million devices, with the memory it holds.
    if std::env::var_os("SLAGBOOM_BENCH_MILLION").is_some() {
        let csv = registry_csv(1_000_000);
        let before = rss_kib();
        let t = Instant::now();
        let reg = Registry::parse(Path::new("devices.csv"), &csv).unwrap_or_else(|e| panic!("{e}"));
        let took = t.elapsed();
        let after = rss_kib();
        println!(
            "registry: 1,000,000 devices loaded in {:.2} s, {} MiB resident for the registry",
            took.as_secs_f64(),
            after.saturating_sub(before) / 1024
        );
        black_box(reg.len());
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmRSS:")
                    .map(|v| v.trim().trim_end_matches(" kB").parse().unwrap_or(0))
            })
        })
        .unwrap_or(0)
}

criterion_group!(benches, client_hello, decision, registry_load);
criterion_main!(benches);

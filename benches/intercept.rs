//! Interception costs (SPEC §7), on one core: minting one leaf (P-256 key, signed by
//! the block-page CA, ready as a server configuration), a leaf cache hit, and a whole
//! intercepted exchange with a cached leaf: the TLS handshake with a rustls client in
//! memory, one request, the block page written and read. The last figure includes the
//! client's own work, so the proxy's share is below it.
//!
//! With `--bench`, it also measures memory: the resident set after minting 10,000 and
//! 20,000 distinct names into a cache bounded at 10,000 leaves (the default
//! `leaf_cache`), printed once.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use slagboom::respond::{block_page, BlockFacts};
use slagboom::tls::ca::{block_page_ca, Constraints};
use slagboom::tls::leaf::{server_config, BlockCa, LeafCache};

const LIFETIME: Duration = Duration::from_secs(7 * 86_400);

fn ca() -> (BlockCa, String) {
    let issued = block_page_ca(&Constraints {
        permitted: vec!["tiktok.com".into(), "tiktokv.com".into()],
        unconstrainable: vec![],
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let ca = BlockCa::from_pem(&issued.cert_pem, &issued.key_pem).unwrap_or_else(|e| panic!("{e}"));
    (ca, issued.cert_pem)
}

fn minting(c: &mut Criterion) {
    let (ca, _) = ca();
    let mut g = c.benchmark_group("intercept");
    g.throughput(Throughput::Elements(1));
    g.bench_function("mint_leaf", |b| {
        b.iter(|| {
            let leaf = ca
                .mint(black_box("www.tiktok.com"), LIFETIME)
                .unwrap_or_else(|e| panic!("{e}"));
            black_box(server_config(leaf).unwrap_or_else(|e| panic!("{e}")))
        })
    });
    let cache = LeafCache::new(10_000);
    for i in 0..1_000 {
        let name = format!("n{i}.tiktok.com");
        let leaf = ca.mint(&name, LIFETIME).unwrap_or_else(|e| panic!("{e}"));
        cache.put(
            &ca,
            &name,
            server_config(leaf).unwrap_or_else(|e| panic!("{e}")),
            LIFETIME,
        );
    }
    g.bench_function("cache_hit", |b| {
        b.iter(|| black_box(cache.get(&ca, black_box("n500.tiktok.com"))))
    });
    g.finish();
}

/// Moves TLS records from one side to the other until neither has more to say.
fn pump(client: &mut rustls::ClientConnection, server: &mut rustls::ServerConnection) {
    let mut buf = Vec::with_capacity(8192);
    loop {
        let mut moved = false;
        while client.wants_write() {
            buf.clear();
            client.write_tls(&mut buf).unwrap_or_else(|e| panic!("{e}"));
            server.read_tls(&mut buf.as_slice()).unwrap_or_else(|e| panic!("{e}"));
            server.process_new_packets().unwrap_or_else(|e| panic!("{e}"));
            moved = true;
        }
        while server.wants_write() {
            buf.clear();
            server.write_tls(&mut buf).unwrap_or_else(|e| panic!("{e}"));
            client.read_tls(&mut buf.as_slice()).unwrap_or_else(|e| panic!("{e}"));
            client.process_new_packets().unwrap_or_else(|e| panic!("{e}"));
            moved = true;
        }
        if !moved {
            return;
        }
    }
}

fn exchange(c: &mut Criterion) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (ca, ca_pem) = ca();
    let cache = LeafCache::new(16);
    let leaf = ca.mint("www.tiktok.com", LIFETIME).unwrap_or_else(|e| panic!("{e}"));
    cache.put(
        &ca,
        "www.tiktok.com",
        server_config(leaf).unwrap_or_else(|e| panic!("{e}")),
        LIFETIME,
    );
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap_or_else(|e| panic!("{e}")))
        .unwrap_or_else(|e| panic!("{e}"));
    let client_config = Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    let name = ServerName::try_from("www.tiktok.com").unwrap_or_else(|e| panic!("{e}"));
    let facts = BlockFacts {
        event_id: "01936f0e-6f3a-7cc2-8d1e-3b1c2a4f5e6d",
        action: "blocked",
        host: "www.tiktok.com",
        policy_id: "be-federal-tiktok",
        policy_title: "Federal ban on TikTok on government-funded devices",
        policy_reference: "National Security Council decision, 2023-03-10",
        ruleset: "tiktok",
        rule: "tiktok.com",
        contact: "ServiceDesk, 02 123 45 67",
    };
    let mut g = c.benchmark_group("intercept");
    g.throughput(Throughput::Elements(1));
    g.bench_function("cached_handshake_and_block_page", |b| {
        b.iter(|| {
            let server_config = cache.get(&ca, "www.tiktok.com").unwrap_or_else(|| panic!("cached"));
            let mut server = rustls::ServerConnection::new(server_config).unwrap_or_else(|e| panic!("{e}"));
            let mut client =
                rustls::ClientConnection::new(client_config.clone(), name.clone()).unwrap_or_else(|e| panic!("{e}"));
            client
                .writer()
                .write_all(b"GET / HTTP/1.1\r\nHost: www.tiktok.com\r\nAccept-Language: nl\r\n\r\n")
                .unwrap_or_else(|e| panic!("{e}"));
            pump(&mut client, &mut server);
            let mut request = [0u8; 256];
            let n = server.reader().read(&mut request).unwrap_or_else(|e| panic!("{e}"));
            black_box(&request[..n]);
            let page = block_page(slagboom::events::Reason::Policy, &facts, None, Some("nl"), false);
            server.writer().write_all(&page).unwrap_or_else(|e| panic!("{e}"));
            server.send_close_notify();
            pump(&mut client, &mut server);
            let mut got = Vec::with_capacity(page.len());
            let _ = client.reader().read_to_end(&mut got);
            assert_eq!(got.len(), page.len());
        })
    });
    g.finish();
}

/// Resident set size in KiB (Linux).
fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4
}

fn memory(_: &mut Criterion) {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let (ca, _) = ca();
    let cache = LeafCache::new(10_000);
    let before = rss_kib();
    let mut report = Vec::new();
    for i in 0..20_000 {
        let name = format!("n{i}.tiktok.com");
        let leaf = ca.mint(&name, LIFETIME).unwrap_or_else(|e| panic!("{e}"));
        cache.put(
            &ca,
            &name,
            server_config(leaf).unwrap_or_else(|e| panic!("{e}")),
            LIFETIME,
        );
        if i + 1 == 10_000 || i + 1 == 20_000 {
            report.push((i + 1, cache.len(), rss_kib().saturating_sub(before)));
        }
    }
    for (names, kept, grown) in report {
        println!(
            "intercept/leaf_cache_memory: {names} distinct names minted, {kept} leaves kept, resident set +{} KiB ({:.1} KiB per kept leaf)",
            grown,
            grown as f64 / kept as f64
        );
    }
}

criterion_group!(benches, minting, exchange, memory);
criterion_main!(benches);

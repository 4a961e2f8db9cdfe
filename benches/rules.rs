//! Rule lookup cost against ruleset size: it must stay flat from 1k to 100k domains
//! (suffix index, not a list scan).

use std::path::PathBuf;

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use slagboom::host::Host;
use slagboom::rules::{parse_files, RuleIndex};

fn index_with(domains: usize) -> RuleIndex {
    let mut text = String::from("id = \"big\"\ntitle = \"Big\"\ndomains = [\n");
    for i in 0..domains {
        text.push_str(&format!("  \"d{i}.example{}.com\",\n", i % 97));
    }
    // Last, as in the reference harness's deny list: worst case for a list scan.
    text.push_str("  \"tiktok.com\",\n]\npatterns = ['v\\d+-tiktok[a-z0-9-]*\\.cdn\\.example']\n");
    parse_files(&[(PathBuf::from("big.toml"), text)]).unwrap_or_else(|e| panic!("{e}"))
}

fn lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("rule_lookup");
    let hit = Host::parse("api16-normal-c-useast1a.tiktokv.tiktok.com").unwrap_or_else(|e| panic!("{e}"));
    let miss = Host::parse("www.some-news-site.example.org").unwrap_or_else(|e| panic!("{e}"));
    for size in [1_000, 10_000, 100_000] {
        let idx = index_with(size);
        group.bench_with_input(BenchmarkId::new("hit", size), &idx, |b, idx| {
            b.iter(|| idx.lookup(black_box(&hit)))
        });
        group.bench_with_input(BenchmarkId::new("miss", size), &idx, |b, idx| {
            b.iter(|| idx.lookup(black_box(&miss)))
        });
    }
    group.finish();
}

fn normalise(c: &mut Criterion) {
    c.bench_function("host_parse_ascii", |b| {
        b.iter(|| Host::parse(black_box("WWW.TikTok.com.")))
    });
    c.bench_function("host_parse_idn", |b| {
        b.iter(|| Host::parse(black_box("bücher.example")))
    });
}

criterion_group!(benches, lookup, normalise);
criterion_main!(benches);

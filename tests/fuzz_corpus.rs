//! Replays every fuzz target's seeds and kept regressions (`fuzz/seeds/TARGET/`, and a
//! local `fuzz/corpus/TARGET/` when one exists) through the same entry points the
//! fuzzers run (`slagboom::fuzzing`), on stable: a crash once found stays a test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use slagboom::fuzzing::TARGETS;

fn inputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut all: Vec<(String, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .map(|e| (e.path().display().to_string(), std::fs::read(e.path()).unwrap()))
        .collect();
    all.sort();
    all
}

#[test]
fn every_target_has_seeds_and_they_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (name, entry) in TARGETS {
        let seeds = inputs(&root.join("seeds").join(name));
        assert!(!seeds.is_empty(), "fuzz/seeds/{name} has no seed");
        let local = inputs(&root.join("corpus").join(name));
        for (path, data) in seeds.iter().chain(&local) {
            let run = std::panic::catch_unwind(|| entry(data));
            assert!(run.is_ok(), "{name}: {path} fails");
        }
        // Every prefix of every seed, as a fuzzer would reach it.
        for (path, data) in &seeds {
            for cut in 0..data.len().min(2048) {
                let run = std::panic::catch_unwind(|| entry(&data[..cut]));
                assert!(run.is_ok(), "{name}: {path} cut at {cut} fails");
            }
        }
    }
}

/// The block-page CA with its key (never committed): made here, then loaded.
#[test]
fn a_real_block_page_ca_passes_the_pem_target() {
    let issued = slagboom::tls::ca::block_page_ca(&slagboom::tls::ca::Constraints {
        permitted: vec!["tiktok.com".into()],
        unconstrainable: vec![],
    })
    .unwrap();
    let input = format!("www.tiktok.com\n{}{}", issued.cert_pem, issued.key_pem);
    slagboom::fuzzing::block_ca(input.as_bytes());
}

/// Each target in `fuzz/Cargo.toml` has an entry point here, and the other way round.
#[test]
fn the_fuzz_crate_lists_every_target() {
    let manifest = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/Cargo.toml")).unwrap();
    let listed: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|n| *n != "slagboom-fuzz")
        .collect();
    let mut want: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
    let mut got = listed.clone();
    want.sort_unstable();
    got.sort_unstable();
    assert_eq!(got, want);
}

//! Fuzzes the registry loaders (CSV and JSON): the properties are in `slagboom::fuzzing::registry`, which
//! `tests/fuzz_corpus.rs` also replays on stable over `fuzz/seeds/registry/`.
//!
//! Run with `make fuzz` (every target) or `cargo +nightly fuzz run registry fuzz/corpus/registry fuzz/seeds/registry`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| slagboom::fuzzing::registry(data));

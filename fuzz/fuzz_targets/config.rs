//! Fuzzes the configuration loader: the properties are in `slagboom::fuzzing::config`, which
//! `tests/fuzz_corpus.rs` also replays on stable over `fuzz/seeds/config/`.
//!
//! Run with `make fuzz` (every target) or `cargo +nightly fuzz run config fuzz/corpus/config fuzz/seeds/config`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| slagboom::fuzzing::config(data));

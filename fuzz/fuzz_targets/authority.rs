//! Fuzzes host normalisation and CONNECT authorities: the properties are in `slagboom::fuzzing::authority`, which
//! `tests/fuzz_corpus.rs` also replays on stable over `fuzz/seeds/authority/`.
//!
//! Run with `make fuzz` (every target) or `cargo +nightly fuzz run authority fuzz/corpus/authority fuzz/seeds/authority`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| slagboom::fuzzing::authority(data));

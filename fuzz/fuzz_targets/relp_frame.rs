//! Fuzzes the RELP frame reader: the properties are in `slagboom::fuzzing::relp_frame`, which
//! `tests/fuzz_corpus.rs` also replays on stable over `fuzz/seeds/relp_frame/`.
//!
//! Run with `make fuzz` (every target) or `cargo +nightly fuzz run relp_frame fuzz/corpus/relp_frame fuzz/seeds/relp_frame`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| slagboom::fuzzing::relp_frame(data));

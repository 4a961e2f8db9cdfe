//! Fuzzes the ECS, CEF and RFC 5424 encoders: the properties are in `slagboom::fuzzing::encoders`, which
//! `tests/fuzz_corpus.rs` also replays on stable over `fuzz/seeds/encoders/`.
//!
//! Run with `make fuzz` (every target) or `cargo +nightly fuzz run encoders fuzz/corpus/encoders fuzz/seeds/encoders`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| slagboom::fuzzing::encoders(data));

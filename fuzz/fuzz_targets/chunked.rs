//! Fuzzes the chunked-body checker (RFC 9112 §7.1): the properties are in `slagboom::fuzzing::chunked`, which
//! `tests/fuzz_corpus.rs` also replays on stable over `fuzz/seeds/chunked/`.
//!
//! Run with `make fuzz` (every target) or `cargo +nightly fuzz run chunked fuzz/corpus/chunked fuzz/seeds/chunked`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| slagboom::fuzzing::chunked(data));

//! Fuzzes HTTP/1 request heads and their targets: the properties are in `slagboom::fuzzing::http_head`, which
//! `tests/fuzz_corpus.rs` also replays on stable over `fuzz/seeds/http_head/`.
//!
//! Run with `make fuzz` (every target) or `cargo +nightly fuzz run http_head fuzz/corpus/http_head fuzz/seeds/http_head`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| slagboom::fuzzing::http_head(data));

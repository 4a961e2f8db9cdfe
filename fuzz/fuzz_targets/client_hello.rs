//! Fuzzes the ClientHello reader, fed as a sequence of chunks: the properties are in `slagboom::fuzzing::client_hello`, which
//! `tests/fuzz_corpus.rs` also replays on stable over `fuzz/seeds/client_hello/`.
//!
//! Run with `make fuzz` (every target) or `cargo +nightly fuzz run client_hello fuzz/corpus/client_hello fuzz/seeds/client_hello`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| slagboom::fuzzing::client_hello(data));

//! Fuzzes PEM and certificate loading (the block-page CA): the properties are in `slagboom::fuzzing::block_ca`, which
//! `tests/fuzz_corpus.rs` also replays on stable over `fuzz/seeds/block_ca/`.
//!
//! Run with `make fuzz` (every target) or `cargo +nightly fuzz run block_ca fuzz/corpus/block_ca fuzz/seeds/block_ca`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| slagboom::fuzzing::block_ca(data));

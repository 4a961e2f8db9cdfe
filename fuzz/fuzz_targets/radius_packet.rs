//! Fuzzes the RADIUS packet codec: the properties are in `slagboom::fuzzing::radius_packet`, which
//! `tests/fuzz_corpus.rs` also replays on stable over `fuzz/seeds/radius_packet/`.
//!
//! Run with `make fuzz` (every target) or `cargo +nightly fuzz run radius_packet fuzz/corpus/radius_packet fuzz/seeds/radius_packet`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| slagboom::fuzzing::radius_packet(data));

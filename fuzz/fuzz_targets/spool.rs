//! Fuzzes the spool as found after a crash, and the record reader: the properties are in `slagboom::fuzzing::spool`, which
//! `tests/fuzz_corpus.rs` also replays on stable over `fuzz/seeds/spool/`.
//!
//! Run with `make fuzz` (every target) or `cargo +nightly fuzz run spool fuzz/corpus/spool fuzz/seeds/spool`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| slagboom::fuzzing::spool(data));

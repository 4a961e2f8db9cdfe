//! Fuzzes the helpdesk's readers of untrusted input (Basic credentials, the query, event
//! ids, times, the echoed question): the properties are in `slagboom::fuzzing::helpdesk`,
//! which `tests/fuzz_corpus.rs` also replays on stable over `fuzz/seeds/helpdesk/`.
//!
//! Run with `make fuzz` (every target) or `cargo +nightly fuzz run helpdesk fuzz/corpus/helpdesk fuzz/seeds/helpdesk`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| slagboom::fuzzing::helpdesk(data));

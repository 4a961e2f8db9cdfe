//! Fuzzes the chunked-body checker: it must never panic, fed whole or in any two
//! pieces it must pass the same bytes and reach the same answer, and it must never
//! pass a byte that breaks RFC 9112 §7.1.
//!
//! Run with `cargo +nightly fuzz run chunked` from the crate root.

#![no_main]

use libfuzzer_sys::fuzz_target;
use slagboom::proxy::chunked::{check, Decoder, Step};

fuzz_target!(|data: &[u8]| {
    let whole = check(data);
    if let Ok(Some(end)) = whole {
        assert!(end <= data.len() && data[..end].ends_with(b"\r\n\r\n"));
    }

    // Fed in two pieces (the split point taken from the input), the same answer.
    let cut = data.first().map_or(0, |b| usize::from(*b) % (data.len() + 1));
    let mut d = Decoder::new();
    let mut buffered = data[..cut].to_vec();
    let mut passed = 0;
    let mut rest = &data[cut..];
    let split = loop {
        match d.step(&buffered) {
            Ok(Step::Pass(n)) => {
                buffered.drain(..n);
                passed += n;
            }
            Ok(Step::Done(n)) => break Ok(Some(passed + n)),
            Ok(Step::NeedMore) if !rest.is_empty() => {
                buffered.extend_from_slice(rest);
                rest = &[];
            }
            Ok(Step::NeedMore) => break Ok(None),
            Err(e) => break Err(e),
        }
    };
    assert_eq!(split, whole, "split at {cut} changed the answer");
});

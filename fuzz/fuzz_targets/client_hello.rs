//! Fuzzes the ClientHello reader: it must never panic, and its answer must
//! not depend on how many bytes have arrived once it has decided.
//!
//! Run with `cargo +nightly fuzz run client_hello` from the crate root.

#![no_main]

use libfuzzer_sys::fuzz_target;
use slagboom::tls::client_hello::{parse, Error, Parsed};

const MAX: usize = 65_536;

fuzz_target!(|data: &[u8]| {
    let whole = parse(data, MAX);

    // A decided answer (Done or an error) stays the same with more bytes.
    if whole != Ok(Parsed::NeedMore) {
        let mut longer = data.to_vec();
        longer.extend_from_slice(&[0x16, 0x03, 0x03, 0x00, 0x01, 0x01]);
        assert_eq!(
            parse(&longer, MAX),
            whole,
            "trailing bytes changed the answer"
        );
        longer.extend_from_slice(data);
        assert_eq!(
            parse(&longer, MAX),
            whole,
            "trailing bytes changed the answer"
        );
    }

    // A prefix either needs more or has already reached the same answer.
    for cut in [data.len() / 2, data.len().saturating_sub(1)] {
        let Some(prefix) = data.get(..cut) else {
            continue;
        };
        let early = parse(prefix, MAX);
        if early != Ok(Parsed::NeedMore) {
            assert_eq!(early, whole, "prefix of {cut} bytes decided differently");
        }
    }

    // A smaller limit may only turn the answer into TooLarge.
    if let Ok(Parsed::Done(hello)) = &whole {
        if let Some(host) = &hello.server_name {
            assert!(!host.is_empty() && host.len() <= 255);
        }
        let small = parse(data, data.len() / 2);
        assert!(
            small == whole || small == Err(Error::TooLarge),
            "a smaller limit gave {small:?}"
        );
    }
});

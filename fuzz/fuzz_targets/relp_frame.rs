//! Fuzzes the RELP frame reader: it must never panic, a frame it reads must encode
//! to bytes that read back as the same frame, and a decided answer must not change
//! with more bytes.
//!
//! Run with `cargo +nightly fuzz run relp_frame` from the crate root.

#![no_main]

use libfuzzer_sys::fuzz_target;
use slagboom::events::sink::relp::frame::{encode, parse};

fuzz_target!(|data: &[u8]| {
    let whole = parse(data);
    if let Ok(Some((frame, len))) = &whole {
        assert!(*len <= data.len() && data[len - 1] == b'\n');
        let mut again = Vec::new();
        encode(frame.txnr, frame.command, frame.data, &mut again);
        let (back, n) = parse(&again).expect("an encoded frame parses").expect("whole");
        assert_eq!((&back, n), (frame, again.len()), "re-encoding changed the frame");
        // Whatever follows does not change this frame.
        let mut longer = data.to_vec();
        longer.extend_from_slice(b"9 rsp 3 200\n");
        assert_eq!(parse(&longer).map(|f| f.map(|(f, n)| (f.txnr, n))), Ok(Some((frame.txnr, *len))));
    }
    if let Err(e) = whole {
        let mut longer = data.to_vec();
        longer.push(b'\n');
        assert_eq!(parse(&longer).err(), Some(e), "an error went away with more bytes");
    }
});

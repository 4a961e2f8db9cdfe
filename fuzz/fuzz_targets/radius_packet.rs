//! Fuzzes the RADIUS packet reader: it must never panic; a packet it accepts has
//! attributes that tile it exactly; verifying and answering never panic; and a packet
//! built with a secret verifies with that secret only.
//!
//! Run with `cargo +nightly fuzz run radius_packet` from the crate root.

#![no_main]

use libfuzzer_sys::fuzz_target;
use slagboom::radius::packet::{parse, request, response, MIN_LEN};

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = parse(data) {
        let len = usize::from(u16::from_be_bytes([data[2], data[3]]));
        let tiled: usize = p.attributes().map(|(_, v)| v.len() + 2).sum();
        assert_eq!(MIN_LEN + tiled, len, "attributes tile the packet");
        let _ = p.accounting();
        let _ = p.verify(b"secret");
        let r = response(&p, b"secret");
        assert_eq!(r.len(), MIN_LEN);
    }
    // Whatever the attributes, a request built with a secret verifies with it only.
    let attrs: Vec<(u8, &[u8])> = data
        .chunks(9)
        .take(20)
        .filter_map(|c| c.split_first().map(|(k, v)| (*k, v)))
        .collect();
    let built = request(data.first().copied().unwrap_or(0), &attrs, b"k");
    let p = parse(&built).expect("a built request parses");
    assert!(p.verify(b"k") && !p.verify(b"other"));
});

//! Fuzzes the block-page CA loader (PEM, then X.509 and its name constraints) and the
//! name-constraint test: hostile files give an error, never a panic; a CA that loads
//! never permits an IP address.
//!
//! Run with `cargo +nightly fuzz run block_ca` from the crate root.

#![no_main]

use libfuzzer_sys::fuzz_target;
use slagboom::tls::leaf::BlockCa;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The first line names a host; the rest is offered as both certificate and key.
    let (name, pem) = text.split_once('\n').unwrap_or(("", &text));
    if let Ok(ca) = BlockCa::from_pem(pem, pem) {
        let _ = ca.permits(name);
        assert!(!ca.permits("192.0.2.1") && !ca.permits("::1"));
    }
});

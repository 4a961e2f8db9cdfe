//! Fuzz entry points: one function per byte codec, each checking properties that must
//! hold for any input (no panic, answers that do not depend on how the bytes arrived,
//! round trips). The cargo-fuzz targets in `fuzz/` call them under libFuzzer on
//! nightly; `tests/fuzz_corpus.rs` replays the committed seeds and regressions through
//! the same functions on stable, so every crash once found stays a test.

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

pub use crate::proxy::fuzzing::{authority, chunked, http_head};

/// A fuzz entry point: panics when a property does not hold for `data`.
pub type Entry = fn(&[u8]);

/// Every entry point by target name (the names of `fuzz/fuzz_targets/*.rs`).
pub const TARGETS: &[(&str, Entry)] = &[
    ("client_hello", client_hello),
    ("http_head", http_head),
    ("chunked", chunked),
    ("authority", authority),
    ("registry", registry),
    ("config", config),
    ("encoders", encoders),
    ("spool", spool),
    ("radius_packet", radius_packet),
    ("relp_frame", relp_frame),
    ("block_ca", block_ca),
    ("helpdesk", helpdesk),
];

/// The ClientHello reader, fed as a sequence of chunks (their sizes taken from the
/// input): each growing prefix either needs more or has already reached the answer of
/// the whole; trailing bytes never change a decided answer; a smaller limit may only
/// turn it into `TooLarge`; an accepted SNI is 1 to 255 bytes.
pub fn client_hello(data: &[u8]) {
    use crate::tls::client_hello::{parse, Error, Parsed};
    const MAX: usize = 65_536;
    let whole = parse(data, MAX);
    let mut end = 0;
    let mut sizes = data.iter().cycle();
    while end < data.len() {
        let step = usize::from(*sizes.next().unwrap_or(&1) % 64) + 1;
        end = (end + step).min(data.len());
        let early = parse(&data[..end], MAX);
        if early != Ok(Parsed::NeedMore) {
            assert_eq!(early, whole, "a prefix of {end} bytes decided differently");
            break;
        }
    }
    if whole != Ok(Parsed::NeedMore) {
        let mut longer = data.to_vec();
        longer.extend_from_slice(&[0x16, 0x03, 0x03, 0x00, 0x01, 0x01]);
        longer.extend_from_slice(data);
        assert_eq!(parse(&longer, MAX), whole, "trailing bytes changed the answer");
    }
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
}

/// The registry loaders (CSV and JSON): never panic; an error names a line within the
/// input; a loaded registry's lookups answer.
pub fn registry(data: &[u8]) {
    use crate::registry::Registry;
    let text = String::from_utf8_lossy(data);
    // Physical lines, as the loader counts them: LF, CRLF and a lone CR each end one.
    let bytes = text.as_bytes();
    let breaks = bytes
        .iter()
        .enumerate()
        .filter(|(i, b)| **b == b'\n' || (**b == b'\r' && bytes.get(i + 1) != Some(&b'\n')))
        .count();
    let lines = breaks + 2;
    for name in ["devices.csv", "devices.json"] {
        match Registry::parse(Path::new(name), &text) {
            Ok(reg) => {
                for c in crate::registry::Coverage::ALL {
                    let _ = reg.count(c);
                }
                let _ = reg.by_id("device-1");
            }
            Err(e) => {
                assert!(e.line >= 1 && e.line <= lines, "{e}");
                assert!(!e.to_string().contains('\n'), "one line: {e}");
            }
        }
    }
}

/// The configuration loader: never panics; an error is one line naming a line within
/// the input.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let lines = text.lines().count().max(1) + 1;
    if let Err(e) = crate::config::Config::parse(Path::new("/nonexistent/slagboom.toml"), &text) {
        let shown = e.to_string();
        assert!(!shown.contains('\n'), "one line: {shown:?}");
        assert!(e.line >= 1 && e.line <= lines, "{shown}");
    }
}

/// An event built from arbitrary field values (split on 0xFF): the ECS line decodes
/// back to the same fields; CEF and RFC 5424 are one line each, the CEF header has
/// exactly seven unescaped separators, and the RFC 5424 header is printable ASCII.
pub fn encoders(data: &[u8]) {
    use crate::events::format::Body;
    use crate::events::{cef, ecs, rfc5424, Action, Event, Reason, RuleRef};
    let mut parts = data
        .split(|b| *b == 0xff)
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let mut next = || parts.next().filter(|s| !s.is_empty());
    let action = Action::ALL[usize::from(data.first().copied().unwrap_or(0)) % Action::ALL.len()];
    let mut e = Event::new(action, "192.0.2.1:4000".parse().unwrap_or(([0, 0, 0, 0], 0).into()));
    e.timestamp = UNIX_EPOCH + Duration::from_millis(1_764_000_000_000);
    e.observer = next().unwrap_or_default().into();
    e.destination_domain = next();
    e.server_name = next();
    e.method = next();
    e.url = next();
    e.reason = Reason::ALL.get(usize::from(data.get(1).copied().unwrap_or(0))).copied();
    if let (Some(id), Some(name)) = (next(), next()) {
        e.rule = Some(RuleRef {
            id,
            name,
            ruleset: next().unwrap_or_default(),
            reference: next().unwrap_or_default(),
        });
    }
    let mut line = Vec::new();
    ecs::encode(&e, &mut line);
    assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1, "one ECS line");
    let back = ecs::decode(&line).unwrap_or_else(|err| panic!("the ECS line decodes: {err}"));
    assert_eq!(
        (&back.destination_domain, &back.server_name, &back.url, &back.rule),
        (&e.destination_domain, &e.server_name, &e.url, &e.rule)
    );
    let mut c = Vec::new();
    cef::encode(&e, &mut c);
    assert!(!c.contains(&b'\n') && !c.contains(&b'\r'), "one CEF line");
    let bars = c.windows(2).filter(|w| w[1] == b'|' && w[0] != b'\\').count() + usize::from(c.first() == Some(&b'|'));
    assert!(bars >= 7, "the CEF header");
    let mut r = Vec::new();
    rfc5424::encode(&e, 16, Body::Ecs, &mut r);
    assert!(!r.contains(&b'\n'), "one RFC 5424 message");
    let header_end = r.windows(3).position(|w| w == b" - ").unwrap_or(r.len());
    assert!(
        r[..header_end].iter().all(|b| (32..=126).contains(b)),
        "printable header"
    );
}

/// The spool as found after a crash: the input is a segment on disk. Opening never
/// fails on it, reading never panics, and every record handed out decodes or is
/// refused by the record reader (never a panic).
pub fn spool(data: &[u8]) {
    use crate::config::OnSpoolFull;
    use crate::events::spool::Spool;
    use crate::events::Record;
    let Ok(dir) = tempfile_dir() else { return };
    let _ = std::fs::write(dir.join(format!("{:020}.seg", 1)), data);
    if let Ok(spool) = Spool::open(&dir, 1 << 20, OnSpoolFull::RefuseNewConnections) {
        let mut reader = spool.reader("fuzz");
        for _ in 0..64 {
            let batch = reader.read_available(16, 1 << 16);
            if batch.records.is_empty() {
                break;
            }
            for payload in &batch.records {
                if let Some(rec) = Record::from_bytes(payload) {
                    let _ = rec.event();
                }
            }
            reader.ack(batch.end);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    // The record codec alone, on the raw input.
    if let Some(rec) = Record::from_bytes(data) {
        assert_eq!(Record::from_bytes(&rec.to_bytes()).as_ref(), Some(&rec), "round trip");
        let _ = rec.event();
    }
}

/// A fresh directory under the system's temporary directory.
fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("slagboom-fuzz-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir(&dir)?;
    Ok(dir)
}

/// The RADIUS packet reader: never panics; an accepted packet's attributes tile it;
/// verifying and answering never panic; a request built with a secret verifies with
/// that secret only.
pub fn radius_packet(data: &[u8]) {
    use crate::radius::packet::{parse, request, response, MIN_LEN};
    if let Ok(p) = parse(data) {
        let len = usize::from(u16::from_be_bytes([data[2], data[3]]));
        let tiled: usize = p.attributes().map(|(_, v)| v.len() + 2).sum();
        assert_eq!(MIN_LEN + tiled, len, "attributes tile the packet");
        let _ = p.accounting();
        let _ = p.verify(b"secret");
        assert_eq!(response(&p, b"secret").len(), MIN_LEN);
    }
    let attrs: Vec<(u8, &[u8])> = data
        .chunks(9)
        .take(20)
        .filter_map(|c| c.split_first().map(|(k, v)| (*k, v)))
        .collect();
    let built = request(data.first().copied().unwrap_or(0), &attrs, b"k");
    let p = parse(&built).unwrap_or_else(|e| panic!("a built request parses: {e}"));
    assert!(p.verify(b"k") && !p.verify(b"other"));
}

/// The RELP frame reader: never panics; a frame re-encodes to bytes that read back as
/// the same frame; a decided answer does not change with more bytes.
pub fn relp_frame(data: &[u8]) {
    use crate::events::sink::relp::frame::{encode, parse};
    let whole = parse(data);
    if let Ok(Some((frame, len))) = &whole {
        assert!(*len <= data.len() && data[len - 1] == b'\n');
        let mut again = Vec::new();
        encode(frame.txnr, frame.command, frame.data, &mut again);
        let back = parse(&again).ok().flatten();
        assert_eq!(
            back,
            Some((frame.clone(), again.len())),
            "re-encoding changed the frame"
        );
        let mut longer = data.to_vec();
        longer.extend_from_slice(b"9 rsp 3 200\n");
        assert_eq!(
            parse(&longer).map(|f| f.map(|(f, n)| (f.txnr, n))),
            Ok(Some((frame.txnr, *len)))
        );
    }
    if let Err(e) = whole {
        let mut longer = data.to_vec();
        longer.push(b'\n');
        assert_eq!(parse(&longer).err(), Some(e), "an error went away with more bytes");
    }
}

/// PEM and certificate loading (the block-page CA): hostile files give an error,
/// never a panic; a CA that loads never permits an IP address. The first line names a
/// host to test against the constraints; the rest is offered as certificate and key,
/// and as the proxy's own chain.
pub fn block_ca(data: &[u8]) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let text = String::from_utf8_lossy(data);
    let (name, pem) = text.split_once('\n').unwrap_or(("", &text));
    if let Ok(ca) = crate::tls::leaf::BlockCa::from_pem(pem, pem) {
        let _ = ca.permits(name);
        assert!(!ca.permits("192.0.2.1") && !ca.permits("::1"));
    }
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()).take(8).flatten() {
        let _ = x509_parser::parse_x509_certificate(&cert);
    }
    let _ = PrivateKeyDer::from_pem_slice(pem.as_bytes());
}

/// The helpdesk's readers of untrusted input. The bytes up to the first newline are
/// an `Authorization` value, the rest a request target (`path?query`). Properties:
/// no panic; credentials pass only with the key as the password; an event id is only
/// ever the hyphenated UUID form; a question the page cannot read is echoed escaped,
/// so the page has exactly as much markup as for a harmless question.
pub fn helpdesk(data: &[u8]) {
    use crate::helpdesk::{answer, authorized, page, recent, Params};
    use crate::respond::Lang;
    use hyper::header::{HeaderMap, HeaderValue};

    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let (auth, target) = (&data[..split], data.get(split + 1..).unwrap_or_default());
    const KEY: &[u8] = b"k3y";
    if let Ok(value) = HeaderValue::from_bytes(auth) {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", value);
        if authorized(&headers, KEY).is_some() {
            use base64::Engine as _;
            let b64 = auth.get(6..).unwrap_or_default().trim_ascii();
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap_or_default();
            assert!(decoded.ends_with(b":k3y"), "accepted without the key: {auth:?}");
        }
    }
    let target = String::from_utf8_lossy(target);
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let params = Params::parse(query);
    if let Some(id) = recent::parse_id(path) {
        assert_eq!(path.len(), 36);
        assert_eq!(
            uuid::Uuid::from_u128(id).hyphenated().to_string(),
            path.to_ascii_lowercase()
        );
    }
    let _ = params.get("at").map(answer::parse_time);
    let q = params.get("q").unwrap_or(path);
    let markup = |html: &str| html.bytes().filter(|b| matches!(b, b'<' | b'>' | b'"')).count();
    for lang in [Lang::Nl, Lang::Fr, Lang::De, Lang::En] {
        let hostile = page::html(lang, &page::Asked { q, at: q }, Some(&answer::invalid(q, lang)));
        let harmless = page::html(
            lang,
            &page::Asked { q: "x", at: "x" },
            Some(&answer::invalid("x", lang)),
        );
        assert_eq!(markup(&hostile), markup(&harmless), "unescaped markup from {q:?}");
    }
}

//! Fuzz entry points for the proxy's own codecs (see `crate::fuzzing`): request heads
//! with their targets, CONNECT authorities and host names, and chunked bodies.

use super::chunked::{check, Decoder, Step};
use super::explicit::parse_target;
use super::head::{self, HeadError, RequestHead};
use super::inbound::Inbound;
use crate::host::Host;

/// Largest head the entry points accept (a small limit, so `header_too_large` is reached).
const MAX_HEAD: usize = 4096;

fn parse_head(data: &[u8]) -> Result<Option<RequestHead>, HeadError> {
    head::parse(&mut Inbound::from_bytes(data.to_vec()), MAX_HEAD)
}

/// What a parsed head yields, compared across feedings.
fn summary(h: &RequestHead) -> String {
    let headers: Vec<String> = h
        .headers()
        .map(|(n, v)| format!("{n}={}", String::from_utf8_lossy(v)))
        .collect();
    format!(
        "{} {} {} {:?} {:?} {}",
        h.method(),
        h.target(),
        h.version,
        h.framing(),
        headers,
        h.head_len()
    )
}

/// An HTTP/1 request head: parsing never panics; a head complete in a prefix is the
/// same head with more bytes after it, and a refusal stays a refusal; a parsed head's
/// framing and target (CONNECT and absolute-form) are decided without panic, and an
/// accepted target has a normalised host.
pub fn http_head(data: &[u8]) {
    let whole = parse_head(data);
    let cut = data.first().map_or(0, |b| usize::from(*b) % (data.len() + 1));
    match parse_head(&data[..cut]) {
        Ok(Some(early)) => {
            let Ok(Some(late)) = &whole else {
                panic!("a complete head in a prefix was not one with more bytes: {whole:?}");
            };
            assert_eq!(summary(&early), summary(late));
        }
        Err(HeadError::Refuse(r)) => assert_eq!(whole.as_ref().err(), Some(&HeadError::Refuse(r))),
        _ => {}
    }
    if let Ok(Some(h)) = &whole {
        assert!(h.head_len() <= data.len() && h.head_len() <= MAX_HEAD);
        let _ = h.framing();
        let _ = h.connection_has("close");
        if let Ok(t) = parse_target(h, h.method() == "CONNECT") {
            assert_eq!(Host::parse(t.host.as_str()).as_ref(), Ok(&t.host), "normalised");
            if let Some(path) = &t.path {
                assert!(path.starts_with('/'));
            }
        }
    }
}

/// A host and a CONNECT authority: normalisation is idempotent, bounded and plain
/// ASCII; an authority's host is the host parsed alone; a CONNECT head built around the
/// input parses to the same target, or is refused.
pub fn authority(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(h) = Host::parse(&text) {
        let s = h.as_str();
        assert!(s.len() <= 253 && s.is_ascii() && !s.ends_with('.'), "{s:?}");
        assert!(!s.bytes().any(|b| b.is_ascii_uppercase()), "{s:?}");
        assert_eq!(Host::parse(s), Ok(h.clone()), "idempotent");
        assert!(h.ip().is_some() != h.name().is_some());
    }
    if let Ok((h, port)) = Host::parse_authority(&text) {
        assert_eq!(Host::parse(h.as_str()), Ok(h.clone()));
        let head = format!("CONNECT {text} HTTP/1.1\r\nHost: {text}\r\n\r\n");
        if let Ok(Some(parsed)) = parse_head(head.as_bytes()) {
            if let Ok(t) = parse_target(&parsed, true) {
                assert_eq!((t.host, Some(t.port)), (h, port));
            }
        }
    }
}

/// The chunked-body checker: never panics; whole or fed in two pieces it passes the
/// same bytes and reaches the same answer; what it accepts ends with the last chunk's
/// CRLF CRLF.
pub fn chunked(data: &[u8]) {
    let whole = check(data);
    if let Ok(Some(end)) = whole {
        assert!(end <= data.len() && data[..end].ends_with(b"\r\n\r\n"));
    }
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
}

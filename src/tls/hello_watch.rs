//! Watching a tunnel's client records after the first ClientHello, until encrypted
//! traffic begins (sans-io).
//!
//! After a HelloRetryRequest the client sends a second ClientHello (RFC 8446 §4.1.2),
//! which must name the same server. The proxy decided on the first one: a second one
//! naming another host (or none, or malformed) is cut before a byte of it is relayed,
//! so nobody can pass the decision with an allowed name and then switch to a blocked
//! one. Records are passed whole once looked at; the watch ends at the first
//! application-data record, after a post-ChangeCipherSpec handshake record that is no
//! ClientHello (TLS 1.2's encrypted Finished), or after [`WATCH_BYTES`].

use super::client_hello::{parse, Parsed};

/// Bytes of client records watched at most.
pub const WATCH_BYTES: usize = 64 * 1024;

/// Largest TLS record accepted while watching (RFC 8446 §5.2: 2^14 + 256).
const MAX_RECORD: usize = 16_384 + 256;

const CHANGE_CIPHER_SPEC: u8 = 20;
const HANDSHAKE: u8 = 22;
const APPLICATION_DATA: u8 = 23;
const CLIENT_HELLO: u8 = 1;

/// What to do with the bytes at the front of the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Watched {
    /// Relay this many bytes, drop them from the buffer, and feed the rest again.
    Pass(usize),
    /// A record is not complete yet.
    NeedMore,
    /// The watch is over: relay everything from here on unlooked.
    Done,
    /// A further ClientHello names another server (its SNI, if any): cut.
    Switched(Option<String>),
    /// A further ClientHello is malformed: cut.
    Invalid,
}

/// The watch of one tunnel.
#[derive(Debug, Clone)]
pub struct HelloWatch {
    /// The first ClientHello's server name, lowercase, without a trailing dot.
    first: Option<String>,
    after_ccs: bool,
    watched: usize,
    done: bool,
}

fn normal(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl HelloWatch {
    /// A watch for a tunnel whose first ClientHello named `first_sni`.
    pub fn new(first_sni: Option<&str>) -> HelloWatch {
        HelloWatch {
            first: first_sni.map(normal),
            after_ccs: false,
            watched: 0,
            done: false,
        }
    }

    /// Looks at the client bytes buffered (from a record boundary).
    pub fn feed(&mut self, buf: &[u8]) -> Watched {
        if self.done {
            return Watched::Done;
        }
        let Some(header) = buf.get(..5) else {
            return Watched::NeedMore;
        };
        let kind = header[0];
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        let known = matches!(kind, CHANGE_CIPHER_SPEC..=APPLICATION_DATA);
        if kind == APPLICATION_DATA || !known || len > MAX_RECORD || self.watched >= WATCH_BYTES {
            return self.finish();
        }
        let Some(record) = buf.get(..5 + len) else {
            return Watched::NeedMore;
        };
        if kind != HANDSHAKE {
            self.after_ccs |= kind == CHANGE_CIPHER_SPEC;
            return self.pass(record.len());
        }
        if record.get(5) != Some(&CLIENT_HELLO) {
            if self.after_ccs {
                // TLS 1.2's Finished, encrypted: the plaintext handshake is over.
                self.done = true;
            }
            return self.pass(record.len());
        }
        match parse(buf, WATCH_BYTES) {
            Ok(Parsed::NeedMore) => Watched::NeedMore,
            Ok(Parsed::Done(hello)) => {
                let sni = hello.server_name.as_deref().map(normal);
                if sni != self.first {
                    return Watched::Switched(hello.server_name);
                }
                match hello_bytes(buf) {
                    Some(n) => self.pass(n),
                    None => Watched::Invalid,
                }
            }
            Err(_) if self.after_ccs => {
                // An encrypted Finished whose first byte happens to be 1.
                self.done = true;
                self.pass(record.len())
            }
            Err(_) => Watched::Invalid,
        }
    }

    fn pass(&mut self, n: usize) -> Watched {
        self.watched += n;
        Watched::Pass(n)
    }

    fn finish(&mut self) -> Watched {
        self.done = true;
        Watched::Done
    }
}

/// The bytes of the whole records that carry the handshake message starting `buf`'s
/// first record (a complete ClientHello, as `parse` said).
fn hello_bytes(buf: &[u8]) -> Option<usize> {
    let payload = buf.get(5..)?;
    let body = usize::from(payload[1]) << 16 | usize::from(payload[2]) << 8 | usize::from(payload[3]);
    let mut need = body + 4;
    let mut at = 0;
    while need > 0 {
        let header = buf.get(at..at + 5)?;
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        need = need.saturating_sub(len);
        at += 5 + len;
    }
    (at <= buf.len()).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real ClientHello record (rustls) naming `name`.
    fn hello_with_sni(name: &str) -> Vec<u8> {
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from(name.to_owned()).unwrap();
        let mut conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
        let mut out = Vec::new();
        while conn.wants_write() {
            conn.write_tls(&mut out).unwrap();
        }
        out
    }

    fn ccs() -> Vec<u8> {
        vec![20, 3, 3, 0, 1, 1]
    }

    fn app_data(n: usize) -> Vec<u8> {
        let mut r = vec![23, 3, 3, (n >> 8) as u8, n as u8];
        r.extend(std::iter::repeat_n(0xaa, n));
        r
    }

    /// Feeds `stream` growing one byte at a time (every prefix), relaying what is
    /// passed; returns the bytes relayed and how the watch ended.
    fn run(first: Option<&str>, stream: &[u8]) -> (usize, Watched) {
        let mut w = HelloWatch::new(first);
        let mut relayed = 0;
        let mut end = relayed;
        loop {
            match w.feed(&stream[relayed..end]) {
                Watched::Pass(n) => relayed += n,
                Watched::NeedMore if end < stream.len() => end += 1,
                Watched::NeedMore => return (relayed, Watched::NeedMore),
                other => return (relayed, other),
            }
        }
    }

    #[test]
    fn the_same_name_after_a_retry_passes_then_encrypted_traffic_ends_the_watch() {
        let mut s = ccs();
        s.extend(hello_with_sni("www.example.org"));
        let hello_end = s.len();
        s.extend(app_data(40));
        let (relayed, end) = run(Some("WWW.example.org."), &s);
        assert_eq!((relayed, end), (hello_end, Watched::Done));
    }

    #[test]
    fn a_second_hello_naming_another_host_is_cut_before_any_of_it_is_relayed() {
        let mut s = ccs();
        let before = s.len();
        s.extend(hello_with_sni("www.tiktok.com"));
        let (relayed, end) = run(Some("www.example.org"), &s);
        assert_eq!(relayed, before, "only the ChangeCipherSpec went through");
        assert_eq!(end, Watched::Switched(Some("www.tiktok.com".into())));
    }

    #[test]
    fn a_second_hello_split_over_records_is_judged_whole() {
        let hello = hello_with_sni("www.tiktok.com");
        let payload = &hello[5..];
        let mut s = Vec::new();
        for part in payload.chunks(7) {
            s.extend([22, 3, 3, 0, part.len() as u8]);
            s.extend(part);
        }
        let (relayed, end) = run(Some("www.example.org"), &s);
        assert_eq!((relayed, end), (0, Watched::Switched(Some("www.tiktok.com".into()))));
        let (relayed, end) = run(Some("www.tiktok.com"), &s);
        assert_eq!(relayed, s.len());
        assert_eq!(end, Watched::NeedMore);
    }

    #[test]
    fn a_malformed_second_hello_is_cut_and_tls12_finished_ends_the_watch() {
        let s = [22, 3, 3, 0, 4, 1, 0, 0, 9];
        assert_eq!(run(Some("a.example"), &s).1, Watched::NeedMore);
        let s = [22, 3, 3, 0, 4, 1, 0, 0, 0];
        assert_eq!(run(Some("a.example"), &s).1, Watched::Invalid);
        // ClientKeyExchange, ChangeCipherSpec, then an encrypted Finished.
        let mut s = vec![22, 3, 3, 0, 4, 16, 0, 0, 0];
        s.extend(ccs());
        s.extend([22, 3, 3, 0, 3, 1, 0xde, 0xad]);
        s.extend(app_data(3));
        let (relayed, end) = run(Some("a.example"), &s);
        assert_eq!(end, Watched::Done);
        assert_eq!(relayed, s.len() - app_data(3).len());
    }

    #[test]
    fn garbage_or_too_much_ends_the_watch() {
        assert_eq!(run(None, &[0x80, 1, 2, 3, 4, 5]).1, Watched::Done);
        assert_eq!(run(None, &[22, 3, 3, 0xff, 0xff]).1, Watched::Done);
        let mut w = HelloWatch::new(None);
        let rec = [21, 3, 3, 0, 2, 1, 0];
        let mut passed = 0;
        while let Watched::Pass(n) = w.feed(&rec) {
            passed += n;
        }
        assert!(passed >= WATCH_BYTES);
    }
}

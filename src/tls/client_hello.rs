//! Sans-io reader for the ClientHello that opens a TLS connection.
//!
//! The proxy decides where a connection may go from the first flight of the
//! client alone, before any byte is sent upstream. [`parse`] is handed every
//! byte received so far and answers with one of three things:
//!
//! * [`Parsed::NeedMore`]: nothing is wrong yet, read more and call again;
//! * [`Parsed::Done`]: a complete ClientHello, with the few fields the policy
//!   needs (SNI, ALPN, whether ECH is in use, the legacy version);
//! * an [`Error`]: not TLS at all, a malformed hello, or one larger than the
//!   caller is willing to buffer.
//!
//! The reader does no I/O and keeps no state between calls, so the answer is
//! a pure function of the bytes. It is also consistent across prefixes: for a
//! stream that holds a valid hello, every prefix shorter than the hello
//! answers `NeedMore` and every longer one answers the same `Done`; once a
//! prefix answers an error, every longer prefix answers the same error. Faults
//! are reported as soon as the bytes that show them have arrived, without
//! waiting for the rest of the hello, and [`Error::TooLarge`] as soon as the
//! declared lengths show that the hello cannot fit in `max` bytes. When the
//! bytes hold more than one fault, the one that comes first in the stream is
//! reported.
//!
//! In the spirit of "parse, don't validate", every length is checked against
//! the structure that encloses it before anything is read, reads go through a
//! small cursor that never indexes out of bounds, and the reader never
//! panics. The handshake message may be spread over several TLS records (RFC
//! 8446 §5.1); their fragments are reassembled. Whatever follows the hello, in
//! its last record or in later ones, is ignored.
//!
//! Only the SNI, ALPN and ECH extensions are looked into; any extension type
//! may appear at most once. A server_name list with two host_name entries is
//! refused (RFC 6066 allows one name per type), so that the name the policy
//! sees is the only one a server could act on.

use std::borrow::Cow;
use std::fmt;

/// What the reader concluded from the bytes seen so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// More bytes are needed (nothing wrong so far).
    NeedMore,
    /// A complete ClientHello.
    Done(ClientHello),
}

/// The fields of a ClientHello that the proxy acts on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientHello {
    /// server_name extension host_name, as sent (ASCII, not yet normalised); None when absent.
    pub server_name: Option<String>,
    /// true when an encrypted_client_hello extension (0xfe0d) is present.
    pub ech: bool,
    /// ALPN protocol names offered, in order (may be empty).
    pub alpn: Vec<String>,
    /// legacy_version field of the ClientHello (e.g. 0x0303).
    pub legacy_version: u16,
}

/// Why the bytes are not (or cannot become) an acceptable ClientHello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// First record is not a TLS handshake record (e.g. plain HTTP bytes).
    NotTls,
    /// Malformed TLS or ClientHello structure.
    Invalid(&'static str),
    /// The ClientHello needs more than `max` bytes.
    TooLarge,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotTls => f.write_str("not a tls handshake"),
            Error::Invalid(what) => write!(f, "invalid client hello: {what}"),
            Error::TooLarge => f.write_str("client hello too large"),
        }
    }
}

impl std::error::Error for Error {}

/// A fatal TLS alert that can be sent before the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alert {
    /// access_denied (49).
    AccessDenied,
    /// internal_error (80).
    InternalError,
    /// handshake_failure (40).
    HandshakeFailure,
    /// unrecognized_name (112).
    UnrecognizedName,
}

/// A fatal TLS alert record (TLS 1.2 record framing, which TLS 1.3 clients accept before the handshake).
pub fn alert_record(alert: Alert) -> [u8; 7] {
    let description = match alert {
        Alert::AccessDenied => 49,
        Alert::InternalError => 80,
        Alert::HandshakeFailure => 40,
        Alert::UnrecognizedName => 112,
    };
    // ContentType alert, version 3.3, length 2, AlertLevel fatal, description.
    [CONTENT_TYPE_ALERT, 3, 3, 0, 2, ALERT_LEVEL_FATAL, description]
}

/// Parse from the start of a client stream. `buf` holds every byte received so far; `max` bounds how many bytes may be buffered (SPEC default 64 KiB).
///
/// Bytes of `buf` past the end of the ClientHello are ignored, and so are
/// bytes at or past `max`.
///
/// # Errors
///
/// [`Error::NotTls`] when the stream does not start with a handshake record,
/// [`Error::Invalid`] when the records or the hello are malformed, and
/// [`Error::TooLarge`] when the hello (with its record headers) needs more
/// than `max` bytes.
pub fn parse(buf: &[u8], max: usize) -> Result<Parsed, Error> {
    // Bytes at or past `max` are never looked at: needing one of them means
    // the hello is too large, whatever they hold.
    let capped = buf.len() >= max;
    let window = buf.get(..max).unwrap_or(buf);
    let framed = reassemble(window, max);

    // What the handshake body seen so far says. It is parsed even while the
    // record layer is short or broken, so that a fault in earlier bytes is
    // reported in preference to one in later bytes, whatever the prefix.
    let body = match framed.body_len {
        Some(len) => Some(parse_body(
            framed.message.get(HANDSHAKE_HEADER_LEN..).unwrap_or(&[]),
            len,
        )),
        None => None,
    };

    match (framed.end, body) {
        (_, Some(Err(Halt::Invalid(what)))) => Err(Error::Invalid(what)),
        (End::Complete, Some(Ok(hello))) => Ok(Parsed::Done(hello)),
        // Cannot happen: a complete message is never short of bytes.
        (End::Complete, _) => Err(Error::Invalid("inconsistent handshake length")),
        (End::Failed(err), _) => Err(err),
        (End::Short, _) if capped => Err(Error::TooLarge),
        (End::Short, _) => Ok(Parsed::NeedMore),
    }
}

const CONTENT_TYPE_HANDSHAKE: u8 = 22;
const CONTENT_TYPE_ALERT: u8 = 21;
const ALERT_LEVEL_FATAL: u8 = 2;
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
const RECORD_HEADER_LEN: usize = 5;
const HANDSHAKE_HEADER_LEN: usize = 4;
/// Largest TLSPlaintext fragment (RFC 8446 §5.1).
const MAX_FRAGMENT_LEN: usize = 16_384;
const MAX_SESSION_ID_LEN: usize = 32;
const RANDOM_LEN: usize = 32;
const MAX_HOST_NAME_LEN: usize = 255;

const EXT_SERVER_NAME: u16 = 0;
const EXT_ALPN: u16 = 16;
const EXT_ENCRYPTED_CLIENT_HELLO: u16 = 0xfe0d;
const NAME_TYPE_HOST_NAME: u8 = 0;

/// How far the record layer got.
#[derive(Debug)]
enum End {
    /// The whole handshake message has been reassembled.
    Complete,
    /// The bytes end before the handshake message does.
    Short,
    /// The record layer or the handshake header is wrong.
    Failed(Error),
}

/// The handshake message bytes carried by the records seen so far.
#[derive(Debug)]
struct Framed<'a> {
    /// Handshake message bytes (header included), up to the message's end.
    message: Cow<'a, [u8]>,
    /// The declared body length, once the handshake header is complete.
    body_len: Option<usize>,
    end: End,
}

/// Walks the TLS records at the start of `buf`, checking each record header
/// and gathering the fragments of the first handshake message.
fn reassemble(buf: &[u8], max: usize) -> Framed<'_> {
    let mut framed = Framed {
        message: Cow::Borrowed(&[]),
        body_len: None,
        end: End::Short,
    };
    let mut pos = 0;
    loop {
        let header = buf.get(pos..).unwrap_or(&[]);
        let header = header.get(..RECORD_HEADER_LEN).unwrap_or(header);
        let mut left_in_record = match record_header(header, pos == 0) {
            Ok(Some(len)) => len,
            Ok(None) => return framed,
            Err(err) => return framed.fail(err),
        };
        pos = pos.saturating_add(RECORD_HEADER_LEN);
        if let Some(total) = framed.total_len() {
            let left = total.saturating_sub(framed.message.len());
            if needed_at_least(pos, left_in_record, left) > max {
                return framed.fail(Error::TooLarge);
            }
        }

        while left_in_record > 0 {
            let known_total = framed.total_len();
            let wanted = known_total
                .unwrap_or(HANDSHAKE_HEADER_LEN)
                .saturating_sub(framed.message.len());
            let take = wanted.min(left_in_record);
            let end = pos.saturating_add(take);
            let available = buf.get(pos..end.min(buf.len())).unwrap_or(&[]);
            append(&mut framed.message, available);

            if known_total.is_none() {
                if let Err(err) = handshake_type(&framed.message) {
                    return framed.fail(err);
                }
            }
            if available.len() < take {
                return framed;
            }
            pos = end;
            left_in_record = left_in_record.saturating_sub(take);

            if known_total.is_none() {
                if let Some(body_len) = handshake_body_len(&framed.message) {
                    framed.body_len = Some(body_len);
                    if needed_at_least(pos, left_in_record, body_len) > max {
                        return framed.fail(Error::TooLarge);
                    }
                }
            }
            if framed.total_len() == Some(framed.message.len()) {
                framed.end = End::Complete;
                return framed;
            }
        }
    }
}

impl Framed<'_> {
    fn total_len(&self) -> Option<usize> {
        self.body_len.map(|len| len.saturating_add(HANDSHAKE_HEADER_LEN))
    }

    fn fail(mut self, err: Error) -> Self {
        self.end = End::Failed(err);
        self
    }
}

/// Adds a fragment to the message, copying only once a second one arrives.
fn append<'a>(message: &mut Cow<'a, [u8]>, fragment: &'a [u8]) {
    if fragment.is_empty() {
        return;
    }
    if message.is_empty() {
        *message = Cow::Borrowed(fragment);
    } else {
        message.to_mut().extend_from_slice(fragment);
    }
}

/// Checks the bytes present of a record header (at most 5) and returns the
/// record length once the header is complete.
fn record_header(header: &[u8], first: bool) -> Result<Option<usize>, Error> {
    if let Some(&content_type) = header.first() {
        if content_type != CONTENT_TYPE_HANDSHAKE {
            return Err(if first {
                Error::NotTls
            } else {
                Error::Invalid("unexpected record type before end of client hello")
            });
        }
    }
    if let Some(&major) = header.get(1) {
        if major != 3 {
            return Err(Error::Invalid("unsupported record version"));
        }
    }
    if let Some(&minor) = header.get(2) {
        if minor > 4 {
            return Err(Error::Invalid("unsupported record version"));
        }
    }
    let (Some(&hi), Some(&lo)) = (header.get(3), header.get(4)) else {
        return Ok(None);
    };
    match usize::from(u16::from_be_bytes([hi, lo])) {
        0 => Err(Error::Invalid("empty handshake record")),
        len if len > MAX_FRAGMENT_LEN => Err(Error::Invalid("record too long")),
        len => Ok(Some(len)),
    }
}

/// Checks the handshake type once its byte is there.
fn handshake_type(message: &[u8]) -> Result<(), Error> {
    match message.first() {
        Some(&ty) if ty != HANDSHAKE_CLIENT_HELLO => {
            Err(Error::Invalid("first handshake message is not a client hello"))
        }
        _ => Ok(()),
    }
}

/// The 24-bit handshake body length, once the header is complete.
fn handshake_body_len(message: &[u8]) -> Option<usize> {
    match message.get(1..HANDSHAKE_HEADER_LEN) {
        Some(&[a, b, c]) => usize::try_from(u32::from_be_bytes([0, a, b, c])).ok(),
        _ => None,
    }
}

/// The fewest buffered bytes that can hold the rest of the message: `left`
/// more message bytes from offset `pos`, where the current record has
/// `left_in_record` bytes to go and every further record adds a header.
fn needed_at_least(pos: usize, left_in_record: usize, left: usize) -> usize {
    let further_records = left.saturating_sub(left_in_record).div_ceil(MAX_FRAGMENT_LEN);
    pos.saturating_add(left)
        .saturating_add(further_records.saturating_mul(RECORD_HEADER_LEN))
}

/// Why the body reader stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Halt {
    /// The bytes seen so far end inside the structure.
    NeedMore,
    /// The structure is wrong.
    Invalid(&'static str),
}

/// A cursor over a length-delimited structure of which maybe only a prefix
/// has arrived. `data` holds the bytes that have arrived, `end` is where the
/// structure ends according to its length field. A read that would cross
/// `end` is a malformed structure; one that would only cross the end of
/// `data` needs more bytes.
#[derive(Debug)]
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8], len: usize) -> Self {
        Reader { data, pos: 0, end: len }
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.end
    }

    fn remaining(&self) -> usize {
        self.end.saturating_sub(self.pos)
    }

    /// Takes the next `n` bytes; `overrun` names the fault if they cross `end`.
    fn bytes(&mut self, n: usize, overrun: &'static str) -> Result<&'a [u8], Halt> {
        if n > self.remaining() {
            return Err(Halt::Invalid(overrun));
        }
        let next = self.pos.saturating_add(n);
        let taken = self.data.get(self.pos..next).ok_or(Halt::NeedMore)?;
        self.pos = next;
        Ok(taken)
    }

    fn u8(&mut self, overrun: &'static str) -> Result<u8, Halt> {
        match self.bytes(1, overrun)? {
            &[b] => Ok(b),
            _ => Err(Halt::Invalid(overrun)),
        }
    }

    fn u16(&mut self, overrun: &'static str) -> Result<u16, Halt> {
        match self.bytes(2, overrun)? {
            &[hi, lo] => Ok(u16::from_be_bytes([hi, lo])),
            _ => Err(Halt::Invalid(overrun)),
        }
    }

    /// A reader over the next `n` bytes, which need not have arrived yet;
    /// this reader moves past them.
    fn sub(&mut self, n: usize, overrun: &'static str) -> Result<Reader<'a>, Halt> {
        if n > self.remaining() {
            return Err(Halt::Invalid(overrun));
        }
        let start = self.pos;
        self.pos = start.saturating_add(n);
        Ok(Reader {
            data: self.data,
            pos: start,
            end: self.pos,
        })
    }

    /// A `u16`-length-prefixed structure.
    fn vec_u16(&mut self, overrun: &'static str) -> Result<Reader<'a>, Halt> {
        let len = self.u16(overrun)?;
        self.sub(usize::from(len), overrun)
    }

    /// The bytes of a `u8`-length-prefixed vector.
    fn bytes_u8(&mut self, overrun: &'static str) -> Result<&'a [u8], Halt> {
        let len = self.u8(overrun)?;
        self.bytes(usize::from(len), overrun)
    }

    /// The bytes of a `u16`-length-prefixed vector.
    fn bytes_u16(&mut self, overrun: &'static str) -> Result<&'a [u8], Halt> {
        let len = self.u16(overrun)?;
        self.bytes(usize::from(len), overrun)
    }

    /// Takes whatever is left.
    fn rest(&mut self) -> Result<&'a [u8], Halt> {
        self.bytes(self.remaining(), "truncated structure")
    }

    /// Requires that nothing is left.
    fn finish(&self, trailing: &'static str) -> Result<(), Halt> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(Halt::Invalid(trailing))
        }
    }
}

/// Parses the ClientHello body (RFC 8446 §4.1.2) of declared length `len`
/// from the `data` that has arrived so far.
fn parse_body(data: &[u8], len: usize) -> Result<ClientHello, Halt> {
    let mut r = Reader::new(data, len);
    let legacy_version = r.u16("truncated legacy_version")?;
    r.bytes(RANDOM_LEN, "truncated random")?;

    let session_id_len = usize::from(r.u8("truncated session_id")?);
    if session_id_len > MAX_SESSION_ID_LEN {
        return Err(Halt::Invalid("session_id too long"));
    }
    r.bytes(session_id_len, "truncated session_id")?;

    let suites_len = usize::from(r.u16("truncated cipher_suites")?);
    if suites_len < 2 || suites_len % 2 != 0 {
        return Err(Halt::Invalid("bad cipher_suites length"));
    }
    r.bytes(suites_len, "truncated cipher_suites")?;

    let compression = r.bytes_u8("truncated compression_methods")?;
    if compression.is_empty() {
        return Err(Halt::Invalid("empty compression_methods"));
    }

    let mut hello = ClientHello {
        legacy_version,
        ..ClientHello::default()
    };
    if r.is_empty() {
        // A hello without an extensions block (allowed before TLS 1.3).
        return Ok(hello);
    }

    let mut extensions = r.vec_u16("extensions overrun the client hello")?;
    r.finish("bytes after the extensions")?;
    let mut seen = ExtensionSet::default();
    while !extensions.is_empty() {
        let ty = extensions.u16("truncated extension header")?;
        if !seen.insert(ty) {
            return Err(Halt::Invalid("duplicate extension"));
        }
        let mut body = extensions.vec_u16("extension overruns the extensions block")?;
        match ty {
            EXT_SERVER_NAME => hello.server_name = server_name(&mut body)?,
            EXT_ALPN => hello.alpn = alpn(&mut body)?,
            EXT_ENCRYPTED_CLIENT_HELLO => {
                body.rest()?;
                hello.ech = true;
            }
            _ => {
                body.rest()?;
            }
        }
        body.finish("bytes after an extension's contents")?;
    }

    // Every byte has been read by now; this only guards the invariant.
    if data.len() < len {
        return Err(Halt::NeedMore);
    }
    Ok(hello)
}

/// The server_name extension (RFC 6066 §3): the host_name entry, if any.
fn server_name(ext: &mut Reader<'_>) -> Result<Option<String>, Halt> {
    let mut list = ext.vec_u16("server_name list overruns the extension")?;
    ext.finish("bytes after the server_name list")?;
    if list.is_empty() {
        return Err(Halt::Invalid("empty server_name list"));
    }
    let mut host = None;
    while !list.is_empty() {
        let name_type = list.u8("truncated server_name entry")?;
        let name = list.bytes_u16("server_name entry overruns the list")?;
        if name_type != NAME_TYPE_HOST_NAME {
            continue;
        }
        if host.is_some() {
            // RFC 6066: at most one name of each type.
            return Err(Halt::Invalid("more than one host_name"));
        }
        if name.is_empty() || name.len() > MAX_HOST_NAME_LEN {
            return Err(Halt::Invalid("bad host_name length"));
        }
        if !name.iter().all(|b| (0x21..=0x7e).contains(b)) {
            return Err(Halt::Invalid("host_name is not printable ascii"));
        }
        host = Some(name.iter().copied().map(char::from).collect());
    }
    Ok(host)
}

/// The application_layer_protocol_negotiation extension (RFC 7301 §3.1).
fn alpn(ext: &mut Reader<'_>) -> Result<Vec<String>, Halt> {
    let mut list = ext.vec_u16("alpn list overruns the extension")?;
    ext.finish("bytes after the alpn list")?;
    if list.is_empty() {
        return Err(Halt::Invalid("empty alpn list"));
    }
    let mut protocols = Vec::new();
    while !list.is_empty() {
        let name = list.bytes_u8("alpn protocol overruns the list")?;
        if name.is_empty() {
            return Err(Halt::Invalid("empty alpn protocol"));
        }
        let name = std::str::from_utf8(name).map_err(|_| Halt::Invalid("alpn protocol is not utf-8"))?;
        protocols.push(name.to_owned());
    }
    Ok(protocols)
}

/// The set of extension types seen, one bit per possible type.
#[derive(Debug)]
struct ExtensionSet([u64; 1024]);

impl Default for ExtensionSet {
    fn default() -> Self {
        ExtensionSet([0; 1024])
    }
}

impl ExtensionSet {
    /// Adds `ty`; false when it was already there.
    fn insert(&mut self, ty: u16) -> bool {
        let bit = 1u64 << (ty % 64);
        match self.0.get_mut(usize::from(ty / 64)) {
            Some(word) if *word & bit == 0 => {
                *word |= bit;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 65_536;

    /// Builds a ClientHello handshake message (header included).
    #[derive(Clone)]
    struct Builder {
        legacy_version: u16,
        session_id: Vec<u8>,
        cipher_suites: Vec<u8>,
        compression: Vec<u8>,
        /// None: no extensions block at all.
        extensions: Option<Vec<(u16, Vec<u8>)>>,
    }

    impl Builder {
        fn new() -> Self {
            Builder {
                legacy_version: 0x0303,
                session_id: vec![0xaa; 32],
                cipher_suites: vec![0x13, 0x01, 0x13, 0x02, 0xc0, 0x2f],
                compression: vec![0],
                extensions: Some(vec![
                    (0x000a, vec![0, 4, 0, 0x1d, 0, 0x17]), // supported_groups
                    (0x002b, vec![4, 3, 4, 3, 3]),          // supported_versions
                ]),
            }
        }

        fn ext(mut self, ty: u16, body: Vec<u8>) -> Self {
            self.extensions.get_or_insert_with(Vec::new).push((ty, body));
            self
        }

        fn sni(self, name: &[u8]) -> Self {
            let mut entry = vec![NAME_TYPE_HOST_NAME];
            entry.extend(u16be(name.len()));
            entry.extend_from_slice(name);
            self.ext(EXT_SERVER_NAME, prefixed16(&entry))
        }

        fn alpn(self, names: &[&[u8]]) -> Self {
            let mut list = Vec::new();
            for name in names {
                list.push(len8(name.len()));
                list.extend_from_slice(name);
            }
            self.ext(EXT_ALPN, prefixed16(&list))
        }

        fn ech(self) -> Self {
            self.ext(EXT_ENCRYPTED_CLIENT_HELLO, vec![0, 0, 1, 0, 1, 0x42, 0, 0, 0])
        }

        fn no_extensions(mut self) -> Self {
            self.extensions = None;
            self
        }

        /// The ClientHello body, without the handshake header.
        fn body(&self) -> Vec<u8> {
            let mut b = Vec::new();
            b.extend(self.legacy_version.to_be_bytes());
            b.extend((0u8..32).collect::<Vec<_>>());
            b.push(len8(self.session_id.len()));
            b.extend_from_slice(&self.session_id);
            b.extend(prefixed16(&self.cipher_suites));
            b.push(len8(self.compression.len()));
            b.extend_from_slice(&self.compression);
            if let Some(exts) = &self.extensions {
                let mut block = Vec::new();
                for (ty, body) in exts {
                    block.extend(ty.to_be_bytes());
                    block.extend(prefixed16(body));
                }
                b.extend(prefixed16(&block));
            }
            b
        }

        /// The handshake message.
        fn message(&self) -> Vec<u8> {
            handshake(&self.body())
        }

        /// The message in one record.
        fn record(&self) -> Vec<u8> {
            records(&self.message(), 1)
        }
    }

    fn len8(n: usize) -> u8 {
        assert!(n <= usize::from(u8::MAX));
        n as u8
    }

    fn u16be(n: usize) -> [u8; 2] {
        assert!(n <= usize::from(u16::MAX));
        (n as u16).to_be_bytes()
    }

    fn prefixed16(body: &[u8]) -> Vec<u8> {
        let mut v = u16be(body.len()).to_vec();
        v.extend_from_slice(body);
        v
    }

    fn handshake(body: &[u8]) -> Vec<u8> {
        assert!(body.len() < 1 << 24);
        let len = (body.len() as u32).to_be_bytes();
        let mut m = vec![HANDSHAKE_CLIENT_HELLO, len[1], len[2], len[3]];
        m.extend_from_slice(body);
        m
    }

    fn record_of(content_type: u8, fragment: &[u8]) -> Vec<u8> {
        let mut r = vec![content_type, 3, 1];
        r.extend(u16be(fragment.len()));
        r.extend_from_slice(fragment);
        r
    }

    /// Splits `message` into `n` handshake records of near-equal size.
    fn records(message: &[u8], n: usize) -> Vec<u8> {
        let size = message.len().div_ceil(n);
        records_of_size(message, size)
    }

    /// Splits `message` into handshake records carrying `size` bytes each.
    fn records_of_size(message: &[u8], size: usize) -> Vec<u8> {
        message
            .chunks(size)
            .flat_map(|c| record_of(CONTENT_TYPE_HANDSHAKE, c))
            .collect()
    }

    fn hello(server_name: Option<&str>, alpn: &[&str], ech: bool) -> ClientHello {
        ClientHello {
            server_name: server_name.map(str::to_owned),
            ech,
            alpn: alpn.iter().map(|s| (*s).to_owned()).collect(),
            legacy_version: 0x0303,
        }
    }

    /// Feeds every prefix of `input` and checks that the answers are
    /// `NeedMore` up to some length and one fixed answer from there on.
    /// Returns that length (`input.len() + 1` if never decided) and the
    /// final answer.
    fn prefixes(input: &[u8], max: usize) -> (usize, Result<Parsed, Error>) {
        let last = parse(input, max);
        let mut decided = None;
        for k in 0..=input.len() {
            let got = parse(&input[..k], max);
            match decided {
                None if got == Ok(Parsed::NeedMore) => {}
                None => {
                    decided = Some(k);
                    assert_eq!(got, last, "prefix {k} of {}", input.len());
                }
                Some(_) => assert_eq!(got, last, "prefix {k} of {}", input.len()),
            }
        }
        (decided.unwrap_or(input.len() + 1), last)
    }

    /// Checks a valid hello: `NeedMore` until exactly `needed` bytes, then `Done(want)`.
    fn assert_valid(input: &[u8], needed: usize, want: &ClientHello) {
        let (at, got) = prefixes(input, MAX);
        assert_eq!(got, Ok(Parsed::Done(want.clone())));
        assert_eq!(at, needed);
    }

    /// Checks an invalid input: the error and the prefix length it is known at.
    fn assert_error(input: &[u8], at: usize, want: Error) {
        let got = prefixes(input, MAX);
        assert_eq!(got, (at, Err(want)));
    }

    #[test]
    fn sni_alpn_single_record() {
        let b = Builder::new().sni(b"www.example.com").alpn(&[b"h2", b"http/1.1"]);
        let input = b.record();
        let want = hello(Some("www.example.com"), &["h2", "http/1.1"], false);
        assert_valid(&input, input.len(), &want);
    }

    #[test]
    fn sni_absent() {
        let input = Builder::new().alpn(&[b"h2"]).record();
        assert_valid(&input, input.len(), &hello(None, &["h2"], false));
    }

    #[test]
    fn alpn_absent_and_order_kept() {
        let input = Builder::new().sni(b"a.b").record();
        assert_valid(&input, input.len(), &hello(Some("a.b"), &[], false));

        let input = Builder::new()
            .alpn(&[b"http/1.1", b"h2", b"\xc3\xa9t\xc3\xa9"])
            .record();
        let want = hello(None, &["http/1.1", "h2", "\u{e9}t\u{e9}"], false);
        assert_valid(&input, input.len(), &want);
    }

    #[test]
    fn ech_flag() {
        let input = Builder::new().sni(b"public.example").ech().record();
        assert_valid(&input, input.len(), &hello(Some("public.example"), &[], true));
    }

    #[test]
    fn legacy_version_and_no_extensions() {
        let mut b = Builder::new().no_extensions();
        b.legacy_version = 0x0301;
        b.session_id.clear();
        let input = b.record();
        let mut want = hello(None, &[], false);
        want.legacy_version = 0x0301;
        assert_valid(&input, input.len(), &want);
    }

    #[test]
    fn split_over_two_and_three_records() {
        let b = Builder::new().sni(b"split.example").alpn(&[b"h2"]).ech();
        let want = hello(Some("split.example"), &["h2"], true);
        for n in [2, 3] {
            let input = records(&b.message(), n);
            assert_eq!(input.len(), b.message().len() + n * RECORD_HEADER_LEN);
            assert_valid(&input, input.len(), &want);
        }
    }

    #[test]
    fn handshake_header_split_across_records() {
        let m = Builder::new().sni(b"hdr.example").message();
        for cut in 1..=5 {
            let mut input = record_of(CONTENT_TYPE_HANDSHAKE, &m[..cut]);
            input.extend(record_of(CONTENT_TYPE_HANDSHAKE, &m[cut..]));
            assert_valid(&input, input.len(), &hello(Some("hdr.example"), &[], false));
        }
    }

    #[test]
    fn single_byte_records() {
        let b = Builder::new().sni(b"tiny.example").alpn(&[b"h2"]);
        let input = records_of_size(&b.message(), 1);
        assert_eq!(input.len(), b.message().len() * 6);
        assert_valid(&input, input.len(), &hello(Some("tiny.example"), &["h2"], false));
    }

    #[test]
    fn trailing_data_is_ignored() {
        let b = Builder::new().sni(b"trail.example");
        let want = hello(Some("trail.example"), &[], false);
        let m = b.message();

        // Extra bytes in the same record, which is longer than the hello.
        let mut fragment = m.clone();
        fragment.extend_from_slice(b"\x16\x03\x03\x00\x01\x02extra");
        let input = record_of(CONTENT_TYPE_HANDSHAKE, &fragment);
        assert_valid(&input, RECORD_HEADER_LEN + m.len(), &want);

        // A later record, even one that would be wrong before the hello.
        let mut input = b.record();
        let needed = input.len();
        input.extend(record_of(23, b"application data"));
        input.extend_from_slice(b"GET / HTTP/1.1\r\n");
        assert_valid(&input, needed, &want);

        // Split hello, then trailing bytes in the last record.
        let mut input = records(&m, 2);
        let needed = input.len();
        input.extend(records(b"zz", 1));
        assert_valid(&input, needed, &want);
    }

    #[test]
    fn not_tls() {
        for input in [
            &b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"[..],
            b"CONNECT example.com:443 HTTP/1.1\r\n\r\n",
            b"\x00\x00\x00\x00\x00\x00",
            b"\x80\x2e\x01\x03\x01", // SSLv2-style hello
            b"\x15\x03\x03\x00\x02\x02\x28",
        ] {
            assert_error(input, 1, Error::NotTls);
        }
        assert_eq!(parse(b"", MAX), Ok(Parsed::NeedMore));
    }

    #[test]
    fn bad_record_headers() {
        let mut input = Builder::new().record();
        input[1] = 2;
        assert_error(&input, 2, Error::Invalid("unsupported record version"));

        let mut input = Builder::new().record();
        input[2] = 5;
        assert_error(&input, 3, Error::Invalid("unsupported record version"));

        for minor in 0..=4 {
            let mut input = Builder::new().record();
            input[2] = minor;
            assert_valid(&input, input.len(), &hello(None, &[], false));
        }

        let mut input = vec![22, 3, 1, 0, 0];
        input.extend(Builder::new().record());
        assert_error(&input, 5, Error::Invalid("empty handshake record"));

        let mut input = vec![22, 3, 1, 0x40, 0x01];
        input.extend(Builder::new().message());
        assert_error(&input, 5, Error::Invalid("record too long"));

        // Exactly 2^14 is fine, even though the hello is shorter.
        let mut fragment = Builder::new().message();
        let len = fragment.len();
        fragment.resize(MAX_FRAGMENT_LEN, 0);
        let input = record_of(CONTENT_TYPE_HANDSHAKE, &fragment);
        assert_valid(&input, RECORD_HEADER_LEN + len, &hello(None, &[], false));
    }

    #[test]
    fn other_record_before_hello_is_complete() {
        let m = Builder::new().sni(b"x.example").message();
        let mut input = record_of(CONTENT_TYPE_HANDSHAKE, &m[..10]);
        let at = input.len() + 1;
        input.extend(record_of(20, &[1])); // change_cipher_spec
        input.extend(record_of(CONTENT_TYPE_HANDSHAKE, &m[10..]));
        let want = Error::Invalid("unexpected record type before end of client hello");
        assert_error(&input, at, want);

        let mut input = record_of(CONTENT_TYPE_HANDSHAKE, &m[..10]);
        let at = input.len() + 1;
        input.extend(alert_record(Alert::InternalError));
        assert_error(&input, at, want);

        let mut input = record_of(CONTENT_TYPE_HANDSHAKE, &m[..10]);
        let at = input.len() + 5;
        input.extend([22, 3, 3, 0, 0]);
        assert_error(&input, at, Error::Invalid("empty handshake record"));
    }

    #[test]
    fn wrong_handshake_type() {
        let mut input = Builder::new().record();
        input[5] = 2; // server_hello
        let want = Error::Invalid("first handshake message is not a client hello");
        assert_error(&input, 6, want);

        // Detected from the first handshake byte, even in its own record.
        let m = Builder::new().message();
        let mut input = record_of(CONTENT_TYPE_HANDSHAKE, &[11]);
        input.extend(records(&m[1..], 1));
        assert_error(&input, 6, want);
    }

    #[test]
    fn too_large_is_known_from_the_lengths() {
        // A declared handshake length beyond `max` is refused at the header.
        let input = [22, 3, 1, 0x40, 0, 1, 0x01, 0, 0];
        assert_error(&input, 9, Error::TooLarge);
        // The most that fits: 9 bytes of headers so far, 65 512 body bytes
        // and 3 more record headers (16 380 body bytes fit in this record).
        let input = [22, 3, 1, 0x40, 0, 1, 0, 0xff, 0xe8];
        assert_eq!(parse(&input, MAX), Ok(Parsed::NeedMore));
        let input = [22, 3, 1, 0x40, 0, 1, 0, 0xff, 0xe9];
        assert_eq!(parse(&input, MAX), Err(Error::TooLarge));

        let b = Builder::new().sni(b"big.example").ext(0x15, vec![0; 3000]);
        let want = hello(Some("big.example"), &[], false);
        let input = b.record();
        let needed = input.len();
        assert_eq!(prefixes(&input, needed), (needed, Ok(Parsed::Done(want.clone()))));
        assert_eq!(prefixes(&input, needed - 1), (9, Err(Error::TooLarge)));

        // Split records: the headers of further records count as well. At
        // the handshake header one more record header is certain (the body
        // does not fit in the first record); the third is known from the
        // second record's length.
        let m = b.message();
        let input = records(&m, 3);
        let needed = input.len();
        let first = m.len().div_ceil(3);
        assert_eq!(prefixes(&input, needed), (needed, Ok(Parsed::Done(want))));
        assert_eq!(prefixes(&input, needed - 6), (9, Err(Error::TooLarge)));
        let at = 2 * RECORD_HEADER_LEN + first;
        assert_eq!(prefixes(&input, needed - 1), (at, Err(Error::TooLarge)));

        // With 1-byte records the total is only known record by record.
        let small = Builder::new().sni(b"big.example");
        let m = small.message();
        let input = records_of_size(&m, 1);
        let needed = input.len();
        assert_eq!(
            prefixes(&input, needed).1,
            Ok(Parsed::Done(hello(Some("big.example"), &[], false)))
        );
        // One byte short: known at the header of the last-but-one record,
        // since the last one still needs a header of its own.
        let (at, got) = prefixes(&input, needed - 1);
        assert_eq!((at, got), (needed - 7, Err(Error::TooLarge)));
        // Once the handshake header is complete (4 records), the body and
        // one more record header are certain.
        let at_least = 4 * 6 + (m.len() - 4) + 5;
        assert_eq!(prefixes(&input, at_least - 1), (4 * 6, Err(Error::TooLarge)));
        // The next record header makes one more header certain.
        assert_eq!(prefixes(&input, at_least), (5 * 6 - 1, Err(Error::TooLarge)));
        assert_eq!(prefixes(&input, at_least + 5), (6 * 6 - 1, Err(Error::TooLarge)));
        assert_eq!(prefixes(&input, at_least - 1), (4 * 6, Err(Error::TooLarge)));
    }

    #[test]
    fn too_large_when_max_is_reached() {
        let input = Builder::new().record();
        for max in 0..9 {
            let (_, got) = prefixes(&input, max);
            assert_eq!(got, Err(Error::TooLarge), "max {max}");
        }
        // Bytes past `max` are not looked at.
        assert_eq!(parse(b"\x16\x03\x01\x00\x02GET", 5), Err(Error::TooLarge));
        assert_eq!(parse(b"GET", 0), Err(Error::TooLarge));
    }

    #[test]
    fn truncated_lengths() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![0x03, 0x03], "truncated random"),
            (vec![0x03], "truncated legacy_version"),
            (Vec::new(), "truncated legacy_version"),
            (
                {
                    let mut b = Builder::new().body();
                    b.truncate(2 + 32 + 1 + 10);
                    b
                },
                "truncated session_id",
            ),
        ];
        for (body, want) in cases {
            // The declared length is the body's: the structure overruns it.
            let input = records(&handshake(&body), 1);
            let (_, got) = prefixes(&input, MAX);
            assert_eq!(got, Err(Error::Invalid(want)));
        }

        // Each length field, in turn, made one larger than what encloses it.
        let b = Builder::new().sni(b"len.example").alpn(&[b"h2"]);
        let body = b.body();
        let sid = 2 + 32;
        let suites = sid + 1 + 32;
        let comp = suites + 2 + 6;
        let exts = comp + 1 + 1;
        let cases = [
            (sid, 200, "session_id too long"),
            (suites + 1, 0x41, "bad cipher_suites length"),
            (suites + 1, 7, "bad cipher_suites length"),
            (suites + 1, 0, "bad cipher_suites length"),
            (comp, 0, "empty compression_methods"),
            (comp, 0xff, "truncated compression_methods"),
            (exts + 1, body[exts + 1] + 1, "extensions overrun the client hello"),
            (exts + 1, body[exts + 1] - 1, "bytes after the extensions"),
            (exts + 2 + 2 + 1, 0xff, "extension overruns the extensions block"),
        ];
        for (offset, value, want) in cases {
            let mut body = body.clone();
            body[offset] = value;
            let input = records(&handshake(&body), 1);
            let (at, got) = prefixes(&input, MAX);
            assert_eq!(got, Err(Error::Invalid(want)), "offset {offset}");
            assert!(at <= RECORD_HEADER_LEN + 4 + offset + 1, "offset {offset}");
        }

        // A hello that stops in the middle of the extensions block.
        let mut body = b.body();
        body.truncate(body.len() - 3);
        let input = records(&handshake(&body), 1);
        let (_, got) = prefixes(&input, MAX);
        assert!(matches!(got, Err(Error::Invalid(_))), "{got:?}");
    }

    #[test]
    fn invalid_found_before_the_rest_arrives() {
        // A bad session_id length is reported at once, long before the
        // declared handshake length has arrived.
        let mut body = Builder::new().ext(0x15, vec![0; 2000]).body();
        body[2 + 32] = 33;
        let input = records(&handshake(&body), 2);
        assert_error(&input, 5 + 4 + 2 + 32 + 1, Error::Invalid("session_id too long"));
    }

    #[test]
    fn error_in_earlier_bytes_wins_over_record_fault() {
        // The hello is broken in its first record and the second record is
        // not a handshake record: the earlier fault is reported throughout.
        let mut body = Builder::new().body();
        body[2 + 32] = 40;
        let m = handshake(&body);
        let mut input = record_of(CONTENT_TYPE_HANDSHAKE, &m[..50]);
        input.extend(record_of(23, &m[50..]));
        assert_error(&input, 5 + 4 + 2 + 32 + 1, Error::Invalid("session_id too long"));
    }

    #[test]
    fn duplicate_extensions() {
        let input = Builder::new().sni(b"a.example").sni(b"b.example").record();
        let (_, got) = prefixes(&input, MAX);
        assert_eq!(got, Err(Error::Invalid("duplicate extension")));

        let input = Builder::new().ext(0x1234, vec![]).ext(0x1234, vec![1]).record();
        let (_, got) = prefixes(&input, MAX);
        assert_eq!(got, Err(Error::Invalid("duplicate extension")));

        let input = Builder::new().ech().ech().record();
        let (_, got) = prefixes(&input, MAX);
        assert_eq!(got, Err(Error::Invalid("duplicate extension")));

        let mut set = ExtensionSet::default();
        assert!(set.insert(0) && set.insert(u16::MAX) && set.insert(64));
        assert!(!set.insert(0) && !set.insert(u16::MAX) && !set.insert(64));
    }

    #[test]
    fn bad_sni() {
        let long = [b'a'; 256];
        let cases: [(&[u8], &str); 6] = [
            (b"", "bad host_name length"),
            (&long, "bad host_name length"),
            (b"bad name.example", "host_name is not printable ascii"),
            (b"nul\0.example", "host_name is not printable ascii"),
            (b"caf\xc3\xa9.example", "host_name is not printable ascii"),
            (b"del\x7f", "host_name is not printable ascii"),
        ];
        for (name, want) in cases {
            let input = Builder::new().sni(name).record();
            assert_eq!(prefixes(&input, MAX).1, Err(Error::Invalid(want)));
        }

        let input = Builder::new().sni(&long[..255]).record();
        let name = String::from_utf8(long[..255].to_vec()).ok();
        assert_eq!(
            parse(&input, MAX),
            Ok(Parsed::Done(ClientHello {
                server_name: name,
                ..hello(None, &[], false)
            }))
        );

        // Empty list, list overrunning or short of the extension.
        for (ext, want) in [
            (vec![0, 0], "empty server_name list"),
            (vec![], "server_name list overruns the extension"),
            (vec![0, 9, 0, 0, 1, b'a'], "server_name list overruns the extension"),
            (vec![0, 4, 0, 0, 1, b'a', 0], "bytes after the server_name list"),
            (vec![0, 4, 0, 0, 3, b'a'], "server_name entry overruns the list"),
            (vec![0, 2, 0, 0], "server_name entry overruns the list"),
        ] {
            let input = Builder::new().ext(EXT_SERVER_NAME, ext).record();
            assert_eq!(prefixes(&input, MAX).1, Err(Error::Invalid(want)));
        }

        // Other name types are skipped; a second host_name is refused.
        let ext = vec![0, 8, 1, 0, 1, b'z', 0, 0, 1, b'h'];
        let input = Builder::new().ext(EXT_SERVER_NAME, ext).record();
        assert_valid(&input, input.len(), &hello(Some("h"), &[], false));

        let ext = vec![0, 4, 7, 0, 1, b'z'];
        let input = Builder::new().ext(EXT_SERVER_NAME, ext).record();
        assert_valid(&input, input.len(), &hello(None, &[], false));

        let ext = vec![0, 8, 0, 0, 1, b'a', 0, 0, 1, b'b'];
        let input = Builder::new().ext(EXT_SERVER_NAME, ext).record();
        let got = prefixes(&input, MAX).1;
        assert_eq!(got, Err(Error::Invalid("more than one host_name")));
    }

    #[test]
    fn bad_alpn() {
        for (ext, want) in [
            (vec![0, 0], "empty alpn list"),
            (vec![0, 1, 0], "empty alpn protocol"),
            (vec![0, 3, 2, 0xff, 0xfe], "alpn protocol is not utf-8"),
            (vec![0, 3, 5, b'h', b'2'], "alpn protocol overruns the list"),
            (vec![0, 3, 2, b'h', b'2', 0], "bytes after the alpn list"),
        ] {
            let input = Builder::new().ext(EXT_ALPN, ext).record();
            assert_eq!(prefixes(&input, MAX).1, Err(Error::Invalid(want)));
        }
    }

    #[test]
    fn extension_contents_must_fill_the_extension() {
        // An ECH extension body is opaque; an unknown one too.
        let input = Builder::new().ext(EXT_ENCRYPTED_CLIENT_HELLO, vec![]).record();
        assert_valid(&input, input.len(), &hello(None, &[], true));
        let input = Builder::new().ext(0xff01, vec![0]).ext(0x0017, vec![]).record();
        assert_valid(&input, input.len(), &hello(None, &[], false));
    }

    #[test]
    fn every_prefix_of_assorted_inputs() {
        let b = Builder::new().sni(b"every.example").alpn(&[b"h2", b"http/1.1"]).ech();
        let m = b.message();
        let mut inputs = vec![
            b.record(),
            records(&m, 2),
            records(&m, 3),
            records_of_size(&m, 1),
            records_of_size(&m, 7),
            Builder::new().no_extensions().record(),
        ];
        // Each single byte of the hello changed in turn.
        let base = records(&m, 2);
        for i in 0..base.len() {
            let mut v = base.clone();
            v[i] ^= 0x5a;
            inputs.push(v);
        }
        // Each length cut short.
        for i in 0..base.len() {
            inputs.push(base[..i].to_vec());
        }
        for input in &inputs {
            for max in [MAX, input.len(), input.len().saturating_sub(1), 64] {
                let (at, got) = prefixes(input, max);
                if let Ok(Parsed::Done(_)) = got {
                    assert!(at <= input.len() && at <= max);
                }
                // Extra bytes never change a decided answer.
                let mut longer = input.clone();
                longer.extend_from_slice(&[0x16; 40]);
                if at <= input.len() {
                    assert_eq!(parse(&longer, max), got);
                }
            }
        }
    }

    #[test]
    fn never_panics_on_noise() {
        // A small deterministic generator; the fuzz target goes further.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let seed = Builder::new().sni(b"noise.example").alpn(&[b"h2"]).ech().record();
        for _ in 0..2000 {
            let mut v = seed.clone();
            let flips = next() % 4 + 1;
            for _ in 0..flips {
                let i = usize::try_from(next() % v.len() as u64).unwrap_or(0);
                v[i] = next().to_be_bytes()[0];
            }
            let got = parse(&v, MAX);
            if got != Ok(Parsed::NeedMore) {
                let mut longer = v.clone();
                longer.push(0);
                assert_eq!(parse(&longer, MAX), got);
            }
        }
    }

    #[test]
    fn real_captures() {
        let long: Vec<String> = ['a', 'b', 'c', 'd']
            .iter()
            .map(|c| format!("x-{}", c.to_string().repeat(200)))
            .collect();
        let mut split_alpn = vec!["h2".to_owned(), "http/1.1".to_owned()];
        split_alpn.extend(long);
        let h2_h1 = vec!["h2".to_owned(), "http/1.1".to_owned()];
        type Capture<'a> = (&'a [u8], Option<&'a str>, Vec<String>, usize);
        let cases: [Capture<'_>; 4] = [
            (
                include_bytes!("../../tests/fixtures/client_hello/rustls-tls13-sni.bin"),
                Some("www.tiktok.com"),
                h2_h1.clone(),
                1,
            ),
            (
                include_bytes!("../../tests/fixtures/client_hello/rustls-no-sni.bin"),
                None,
                h2_h1,
                1,
            ),
            (
                include_bytes!("../../tests/fixtures/client_hello/openssl-tls12.bin"),
                Some("example.org"),
                vec!["http/1.1".to_owned()],
                1,
            ),
            (
                include_bytes!("../../tests/fixtures/client_hello/openssl-tls13-split.bin"),
                Some("api.example.net"),
                split_alpn,
                3,
            ),
        ];
        for (input, server_name, alpn, record_count) in cases {
            let want = ClientHello {
                server_name: server_name.map(str::to_owned),
                ech: false,
                alpn,
                legacy_version: 0x0303,
            };
            // Each capture ends with its hello.
            assert_valid(input, input.len(), &want);
            let mut longer = input.to_vec();
            longer.extend(alert_record(Alert::HandshakeFailure));
            assert_valid(&longer, input.len(), &want);

            let mut records = 0;
            let mut pos = 0;
            while let Some(&[hi, lo]) = input.get(pos + 3..pos + 5) {
                records += 1;
                pos += 5 + usize::from(u16::from_be_bytes([hi, lo]));
            }
            assert_eq!((records, pos), (record_count, input.len()));

            // Re-framed in 1-byte records, the same hello comes out.
            let mut message = Vec::new();
            let mut pos = 0;
            while let Some(&[hi, lo]) = input.get(pos + 3..pos + 5) {
                let len = usize::from(u16::from_be_bytes([hi, lo]));
                message.extend_from_slice(&input[pos + 5..pos + 5 + len]);
                pos += 5 + len;
            }
            let reframed = records_of_size(&message, 1);
            assert_valid(&reframed, reframed.len(), &want);
        }
    }

    #[test]
    fn alert_bytes() {
        assert_eq!(alert_record(Alert::AccessDenied), [21, 3, 3, 0, 2, 2, 49]);
        assert_eq!(alert_record(Alert::InternalError), [21, 3, 3, 0, 2, 2, 80]);
        assert_eq!(alert_record(Alert::HandshakeFailure), [21, 3, 3, 0, 2, 2, 40]);
        assert_eq!(alert_record(Alert::UnrecognizedName), [21, 3, 3, 0, 2, 2, 112]);
        // An alert is not a ClientHello.
        let alert = alert_record(Alert::AccessDenied);
        assert_eq!(parse(&alert, MAX), Err(Error::NotTls));
    }

    #[test]
    fn error_messages() {
        assert_eq!(Error::NotTls.to_string(), "not a tls handshake");
        assert_eq!(
            Error::Invalid("duplicate extension").to_string(),
            "invalid client hello: duplicate extension"
        );
        assert_eq!(Error::TooLarge.to_string(), "client hello too large");
        let boxed: Box<dyn std::error::Error> = Box::new(Error::TooLarge);
        assert!(boxed.source().is_none());
    }
}

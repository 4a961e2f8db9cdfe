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
    /// decode_error (50): a message that could not be parsed (RFC 8446 §6.2).
    DecodeError,
    /// handshake_failure (40).
    HandshakeFailure,
    /// unrecognized_name (112).
    UnrecognizedName,
    /// illegal_parameter (47): a second ClientHello that differs from the first where
    /// RFC 8446 §4.1.2 forbids it.
    IllegalParameter,
}

/// A fatal TLS alert record (TLS 1.2 record framing, which TLS 1.3 clients accept before the handshake).
pub fn alert_record(alert: Alert) -> [u8; 7] {
    let description = match alert {
        Alert::AccessDenied => 49,
        Alert::InternalError => 80,
        Alert::DecodeError => 50,
        Alert::HandshakeFailure => 40,
        Alert::UnrecognizedName => 112,
        Alert::IllegalParameter => 47,
    };
    // ContentType alert, version 3.3, length 2, AlertLevel fatal, description.
    [CONTENT_TYPE_ALERT, 3, 3, 0, 2, ALERT_LEVEL_FATAL, description]
}

/// True once `buf` holds a whole TLS handshake record header (RFC 8446 §5.1: type 22,
/// then version and length): from then on the peer speaks TLS, and a refusal is a TLS
/// alert rather than a bare close.
pub fn record_header_read(buf: &[u8]) -> bool {
    buf.len() >= 5 && buf[0] == CONTENT_TYPE_HANDSHAKE
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

/// TLS record content type of a handshake (RFC 8446 §5.1).
pub const CONTENT_TYPE_HANDSHAKE: u8 = 22;
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
mod tests;

//! Request heads: read within `header_bytes` and `header_timeout`, parsed once with
//! httparse into a [`RequestHead`] that keeps the raw bytes and header positions.
//! Framing is checked exactly (RFC 9112): a doubled or missing `Host`, both
//! `Content-Length` and `Transfer-Encoding`, or any other ambiguity is refused.

use std::ops::Range;
use std::time::Duration;

use tokio::io::AsyncRead;
use tokio::time::Instant;

use super::inbound::Inbound;
use crate::events::Reason;

/// Headers that belong to one hop and are never forwarded (`Content-Length` and
/// `Transfer-Encoding` are restated from the checked framing instead).
pub(super) const HOP_BY_HOP: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// Most header fields accepted in one head.
const MAX_HEADERS: usize = 128;

/// A parsed request head.
#[derive(Debug)]
pub struct RequestHead {
    raw: Vec<u8>,
    method: Range<usize>,
    target: Range<usize>,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    headers: Vec<(Range<usize>, Range<usize>)>,
}

/// How a request body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(u64),
    Chunked,
}

/// Why no request head could be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// The client closed (or stayed silent) before sending any byte: no answer due.
    Closed,
    Refuse(Reason),
}

impl RequestHead {
    pub fn method(&self) -> &str {
        // httparse only accepts token characters in the method: valid UTF-8.
        std::str::from_utf8(&self.raw[self.method.clone()]).unwrap_or("")
    }

    pub fn target(&self) -> &str {
        // httparse only accepts visible ASCII in the target: valid UTF-8.
        std::str::from_utf8(&self.raw[self.target.clone()]).unwrap_or("")
    }

    /// Every header as (name, value).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.headers.iter().map(|(n, v)| {
            // httparse only accepts token characters in names: valid UTF-8.
            (
                std::str::from_utf8(&self.raw[n.clone()]).unwrap_or(""),
                &self.raw[v.clone()],
            )
        })
    }

    /// The values of every header called `name` (case-insensitive).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The value of the single header `name`, if present once.
    pub fn get<'a>(&'a self, name: &'a str) -> Option<&'a [u8]> {
        self.all(name).next()
    }

    /// `get` as text.
    pub fn get_str<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Length of the head in bytes.
    pub fn head_len(&self) -> usize {
        self.raw.len()
    }

    /// True when a `Connection` header lists `token`.
    pub fn connection_has(&self, token: &str) -> bool {
        self.all("connection")
            .filter_map(|v| std::str::from_utf8(v).ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// The body framing, refusing anything ambiguous.
    pub fn framing(&self) -> Result<Framing, Reason> {
        body_framing(self.all("content-length"), self.all("transfer-encoding"), self.version)
    }
}

/// Body framing from `Content-Length` and `Transfer-Encoding` values (shared with
/// responses). Both present, several lengths, a bad length or a coding other than a
/// final `chunked` are refused.
pub fn body_framing<'a>(
    lengths: impl Iterator<Item = &'a [u8]>,
    codings: impl Iterator<Item = &'a [u8]>,
    version: u8,
) -> Result<Framing, Reason> {
    let lengths: Vec<&[u8]> = lengths.collect();
    let codings: Vec<&[u8]> = codings.collect();
    match (lengths.as_slice(), codings.as_slice()) {
        ([], []) => Ok(Framing::None),
        ([len], []) => {
            let ok = !len.is_empty() && len.len() <= 19 && len.iter().all(u8::is_ascii_digit);
            let n = std::str::from_utf8(len)
                .ok()
                .filter(|_| ok)
                .and_then(|s| s.parse().ok());
            n.map(Framing::Length).ok_or(Reason::BadRequest)
        }
        ([], [te]) if version == 1 && te.trim_ascii().eq_ignore_ascii_case(b"chunked") => Ok(Framing::Chunked),
        _ => Err(Reason::BadRequest),
    }
}

/// Reads the next request head. The whole head must arrive before `timeout` and fit in
/// `max` bytes. Bytes after the head stay in `inbound`.
pub async fn read<R: AsyncRead + Unpin>(
    inbound: &mut Inbound,
    r: &mut R,
    max: usize,
    timeout: Duration,
) -> Result<RequestHead, HeadError> {
    let deadline = Instant::now() + timeout;
    loop {
        if !inbound.is_empty() {
            if let Some(head) = parse(inbound, max)? {
                return Ok(head);
            }
        }
        match tokio::time::timeout_at(deadline, inbound.fill(r)).await {
            Err(_) if inbound.is_empty() => return Err(HeadError::Closed),
            Err(_) => return Err(HeadError::Refuse(Reason::HeaderTimeout)),
            Ok(Ok(0)) | Ok(Err(_)) if inbound.is_empty() => return Err(HeadError::Closed),
            Ok(Ok(0)) | Ok(Err(_)) => return Err(HeadError::Refuse(Reason::BadRequest)),
            Ok(Ok(_)) => {}
        }
    }
}

/// Parses a complete head from the front of `inbound`, if there is one.
pub(super) fn parse(inbound: &mut Inbound, max: usize) -> Result<Option<RequestHead>, HeadError> {
    let data = inbound.data();
    let mut slots = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let n = match req.parse_with_uninit_headers(data, &mut slots) {
        Ok(httparse::Status::Complete(n)) if n > max => return Err(HeadError::Refuse(Reason::HeaderTooLarge)),
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if data.len() >= max => return Err(HeadError::Refuse(Reason::HeaderTooLarge)),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::Refuse(Reason::HeaderTooLarge)),
        Err(_) => return Err(HeadError::Refuse(Reason::BadRequest)),
    };
    let base = data.as_ptr() as usize;
    let range = |s: &[u8]| {
        let start = s.as_ptr() as usize - base;
        start..start + s.len()
    };
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Err(HeadError::Refuse(Reason::BadRequest));
    };
    let head = RequestHead {
        method: range(method.as_bytes()),
        target: range(target.as_bytes()),
        version,
        headers: req
            .headers
            .iter()
            .map(|h| (range(h.name.as_bytes()), range(h.value)))
            .collect(),
        raw: data[..n].to_vec(),
    };
    inbound.consume(n);
    Ok(Some(head))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_str(input: &[u8], max: usize) -> Result<RequestHead, HeadError> {
        let mut r = input;
        read(&mut Inbound::new(), &mut r, max, Duration::from_secs(5)).await
    }

    #[tokio::test]
    async fn parses_and_keeps_the_rest() {
        let mut r: &[u8] = b"GET http://a.example/x HTTP/1.1\r\nHost: a.example\r\nX-A: 1\r\nx-a: 2\r\n\r\nBODY";
        let mut inb = Inbound::new();
        let h = read(&mut inb, &mut r, 1024, Duration::from_secs(1)).await.unwrap();
        assert_eq!((h.method(), h.target(), h.version), ("GET", "http://a.example/x", 1));
        assert_eq!(h.get_str("host"), Some("a.example"));
        assert_eq!(h.all("X-A").count(), 2);
        assert_eq!(inb.data(), b"BODY");
        assert_eq!(h.framing(), Ok(Framing::None));
    }

    #[tokio::test]
    async fn refusals() {
        assert_eq!(read_str(b"", 100).await.unwrap_err(), HeadError::Closed);
        assert_eq!(
            read_str(b"GET / HTTP/1.1\r\nHost", 100).await.unwrap_err(),
            HeadError::Refuse(Reason::BadRequest)
        );
        assert_eq!(
            read_str(b"GET / HTTP/1.1\r\nHost: aaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", 30)
                .await
                .unwrap_err(),
            HeadError::Refuse(Reason::HeaderTooLarge)
        );
        assert_eq!(
            read_str(b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", 100)
                .await
                .unwrap_err(),
            HeadError::Refuse(Reason::BadRequest)
        );
        assert_eq!(
            read_str(b"GET / HTTP/2.0\r\n\r\n", 100).await.unwrap_err(),
            HeadError::Refuse(Reason::BadRequest)
        );
        assert_eq!(
            read_str(b"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", 100)
                .await
                .unwrap_err(),
            HeadError::Refuse(Reason::BadRequest)
        );
    }

    #[tokio::test]
    async fn times_out_on_a_partial_head() {
        let (mut client, mut server) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut client, b"GET / HT")
            .await
            .unwrap();
        let got = read(&mut Inbound::new(), &mut server, 1024, Duration::from_millis(50)).await;
        assert_eq!(got.unwrap_err(), HeadError::Refuse(Reason::HeaderTimeout));
        let mut idle = tokio::io::duplex(64).1;
        let got = read(&mut Inbound::new(), &mut idle, 1024, Duration::from_millis(20)).await;
        assert_eq!(got.unwrap_err(), HeadError::Closed);
    }

    #[test]
    fn framing_rules() {
        let f = |cl: &[&[u8]], te: &[&[u8]], v| body_framing(cl.iter().copied(), te.iter().copied(), v);
        assert_eq!(f(&[b"12"], &[], 1), Ok(Framing::Length(12)));
        assert_eq!(f(&[], &[b"chunked"], 1), Ok(Framing::Chunked));
        assert_eq!(f(&[], &[b" Chunked "], 1), Ok(Framing::Chunked));
        for (cl, te, v) in [
            (&[b"12" as &[u8]][..], &[b"chunked" as &[u8]][..], 1),
            (&[b"12", b"12"], &[], 1),
            (&[b"+12"], &[], 1),
            (&[b"1 2"], &[], 1),
            (&[b""], &[], 1),
            (&[], &[b"gzip, chunked"], 1),
            (&[], &[b"chunked", b"chunked"], 1),
            (&[], &[b"chunked"], 0),
            (&[b"99999999999999999999"], &[], 1),
        ] {
            assert_eq!(f(cl, te, v), Err(Reason::BadRequest), "{cl:?} {te:?}");
        }
    }
}

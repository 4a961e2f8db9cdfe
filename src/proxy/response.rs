//! The origin's response to a forwarded request: 1xx interim responses passed on, the
//! final head read (at most 64 KiB), its hop-by-hop headers removed and its framing
//! restated, its body relayed in that framing (checked like a request's), and whether
//! the client and the origin connections may be kept.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::body;
use super::head::{self, Framing, HOP_BY_HOP};
use super::inbound::{invalid, Inbound};
use crate::events::Reason;

/// Longest response head accepted from an origin.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// A response relayed whole.
pub(super) struct ResponseDone {
    pub status: u16,
    /// Bytes sent to the client (heads and body).
    pub bytes: u64,
    /// The client connection may carry another request.
    pub client_keep: bool,
    /// The origin connection may carry another request.
    pub upstream_reusable: bool,
}

/// Why a response was not relayed whole.
pub(super) enum ResponseError {
    /// Nothing was sent to the client: a 502 can still be answered.
    BeforeHead,
    /// The head was sent; the connection can only be closed.
    AfterHead { status: u16, bytes: u64 },
}

/// Reads the response (forwarding 1xx interim responses), rewrites its head and relays
/// its body.
pub(super) async fn relay_response<R, W>(
    inbound: &mut Inbound,
    r: &mut R,
    w: &mut W,
    head_only: bool,
    client_keep: bool,
    answered: &AtomicBool,
) -> Result<ResponseDone, ResponseError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut bytes = 0u64;
    loop {
        let parsed = read_response_head(inbound, r).await.map_err(|_| {
            if bytes == 0 {
                ResponseError::BeforeHead
            } else {
                ResponseError::AfterHead { status: 0, bytes }
            }
        })?;
        let status = parsed.status;
        let after = |bytes| ResponseError::AfterHead { status, bytes };
        // Conflicting or malformed framing (both Content-Length and Transfer-Encoding,
        // several lengths, an unknown coding) may be response splitting: an error, not
        // something to forward (RFC 9112 §6.3). Nothing has been sent yet: a 502.
        let final_head = status >= 200 || status == 101;
        if final_head && parsed.framing.is_err() && !(head_only || status == 204 || status == 304) {
            return Err(if bytes == 0 {
                ResponseError::BeforeHead
            } else {
                ResponseError::AfterHead { status: 0, bytes }
            });
        }
        answered.store(true, Ordering::Relaxed);
        if (100..200).contains(&status) && status != 101 {
            w.write_all(&parsed.rewritten(None, true))
                .await
                .map_err(|_| after(bytes))?;
            w.flush().await.map_err(|_| after(bytes))?;
            bytes += parsed.len as u64;
            continue;
        }
        let no_body = head_only || status == 204 || status == 304 || (100..200).contains(&status);
        let framing = match parsed.framing {
            _ if no_body => Some(Framing::None),
            // No Content-Length and no Transfer-Encoding: the body runs until the origin
            // closes (RFC 9112 §6.3, item 8).
            Ok(Framing::None) => None,
            Ok(f) => Some(f),
            Err(_) => None,
        };
        // No usable framing: the body runs until the origin closes.
        let keep = client_keep && framing.is_some() && status != 101;
        let upstream_reusable = framing.is_some() && !parsed.close;
        w.write_all(&parsed.rewritten(framing, keep))
            .await
            .map_err(|_| after(bytes))?;
        bytes += parsed.len as u64;
        let body = match framing {
            Some(f) => body::relay(inbound, r, w, f).await,
            None => body::relay_to_end(inbound, r, w).await,
        };
        bytes += body.map_err(|_| after(bytes))?;
        w.flush().await.map_err(|_| after(bytes))?;
        return Ok(ResponseDone {
            status,
            bytes,
            client_keep: keep,
            upstream_reusable,
        });
    }
}

struct ResponseHead {
    status: u16,
    reason: String,
    headers: Vec<(String, Vec<u8>)>,
    framing: Result<Framing, Reason>,
    /// The origin's `Content-Length`, restated for bodiless answers (HEAD, 304).
    content_length: Option<Vec<u8>>,
    close: bool,
    len: usize,
}

impl ResponseHead {
    fn rewritten(&self, framing: Option<Framing>, keep: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len + 32);
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(self.status.to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.reason.as_bytes());
        out.extend_from_slice(b"\r\n");
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        match framing {
            Some(Framing::Length(n)) => {
                out.extend_from_slice(b"Content-Length: ");
                out.extend_from_slice(n.to_string().as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Some(Framing::Chunked) => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
            Some(Framing::None) => {
                if let (Some(len), true) = (&self.content_length, self.status >= 200 && self.status != 204) {
                    out.extend_from_slice(b"Content-Length: ");
                    out.extend_from_slice(len);
                    out.extend_from_slice(b"\r\n");
                }
            }
            None => {}
        }
        if self.status >= 200 && !keep {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

async fn read_response_head<R: AsyncRead + Unpin>(inbound: &mut Inbound, r: &mut R) -> std::io::Result<ResponseHead> {
    loop {
        if !inbound.is_empty() {
            let mut slots = [httparse::EMPTY_HEADER; 128];
            let mut resp = httparse::Response::new(&mut slots);
            match resp.parse(inbound.data()) {
                Ok(httparse::Status::Complete(n)) => {
                    let status = resp.code.ok_or_else(|| invalid("no status"))?;
                    let version = resp.version.unwrap_or(1);
                    let lengths = resp
                        .headers
                        .iter()
                        .filter(|h| h.name.eq_ignore_ascii_case("content-length"))
                        .map(|h| h.value);
                    let codings = resp
                        .headers
                        .iter()
                        .filter(|h| h.name.eq_ignore_ascii_case("transfer-encoding"))
                        .map(|h| h.value);
                    let framing = head::body_framing(lengths, codings, version);
                    let mut close = version == 0;
                    let mut named = Vec::new();
                    for h in resp
                        .headers
                        .iter()
                        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
                    {
                        for t in String::from_utf8_lossy(h.value).split(',') {
                            let t = t.trim().to_ascii_lowercase();
                            close |= t == "close";
                            named.push(t);
                        }
                    }
                    let headers = resp
                        .headers
                        .iter()
                        .filter(|h| {
                            let lower = h.name.to_ascii_lowercase();
                            !HOP_BY_HOP.contains(&lower.as_str()) && !named.contains(&lower)
                        })
                        .map(|h| (h.name.to_owned(), h.value.to_vec()))
                        .collect();
                    let head = ResponseHead {
                        status,
                        reason: resp.reason.unwrap_or("").to_owned(),
                        headers,
                        framing,
                        content_length: resp
                            .headers
                            .iter()
                            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                            .map(|h| h.value.to_vec()),
                        close,
                        len: n,
                    };
                    inbound.consume(n);
                    return Ok(head);
                }
                Ok(httparse::Status::Partial) if inbound.data().len() >= MAX_RESPONSE_HEAD => {
                    return Err(invalid("response head too large"))
                }
                Ok(httparse::Status::Partial) => {}
                Err(_) => return Err(invalid("malformed response head")),
            }
        }
        if inbound.fill(r).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
}

//! Message bodies relayed in their framing (RFC 9112 §6): a `Content-Length` body
//! byte for byte, a chunked body only in the pieces [`chunked`] has checked, a body
//! without framing until the sender closes. Errors say which side failed, so a broken
//! request body can abort the upstream connection while an origin that stopped
//! reading cannot be blamed on the client.

use std::fmt;
use std::io;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::chunked::{self, Step};
use super::head::Framing;
use super::inbound::Inbound;

/// Why a body was not relayed whole.
#[derive(Debug)]
pub enum BodyError {
    /// The sender broke the chunked framing.
    Framing(chunked::Error),
    /// The sender closed before the body was complete.
    Truncated,
    /// Reading from the sender failed (reset).
    Read(io::Error),
    /// Writing to the receiver failed.
    Write(io::Error),
}

impl BodyError {
    /// True when the sending side is at fault (framing, early close, read error).
    pub fn is_sender(&self) -> bool {
        !matches!(self, BodyError::Write(_))
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::Framing(e) => write!(f, "{e}"),
            BodyError::Truncated => f.write_str("body ended before its framing said"),
            BodyError::Read(e) => write!(f, "reading the body: {e}"),
            BodyError::Write(e) => write!(f, "writing the body: {e}"),
        }
    }
}

/// Relays a body in `framing` from `inbound` then `r`, to `w`. Returns the bytes
/// relayed. Bytes after the body stay in `inbound`.
///
/// # Errors
///
/// The first failure, by side (see [`BodyError`]). Nothing invalid is written: a
/// chunked body is written only in checked pieces.
pub async fn relay<R, W>(inbound: &mut Inbound, r: &mut R, w: &mut W, framing: Framing) -> Result<u64, BodyError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    match framing {
        Framing::None => Ok(0),
        Framing::Length(n) => relay_length(inbound, r, w, n).await.map(|_| n),
        Framing::Chunked => relay_chunked(inbound, r, w).await,
    }
}

/// Relays until the sender closes (a response without framing). Returns the bytes.
///
/// # Errors
///
/// A read or write failure.
pub async fn relay_to_end<R, W>(inbound: &mut Inbound, r: &mut R, w: &mut W) -> Result<u64, BodyError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut total = 0u64;
    loop {
        if inbound.is_empty() && inbound.fill(r).await.map_err(BodyError::Read)? == 0 {
            return Ok(total);
        }
        let n = inbound.data().len();
        write(w, inbound.data()).await?;
        inbound.consume(n);
        total += n as u64;
    }
}

/// Writes and flushes: a TLS writer may otherwise hold the bytes until its next write
/// (for a plain socket the flush does nothing).
async fn write<W: AsyncWrite + Unpin>(w: &mut W, bytes: &[u8]) -> Result<(), BodyError> {
    w.write_all(bytes).await.map_err(BodyError::Write)?;
    w.flush().await.map_err(BodyError::Write)
}

async fn relay_length<R, W>(inbound: &mut Inbound, r: &mut R, w: &mut W, mut left: u64) -> Result<(), BodyError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    while left > 0 {
        if inbound.is_empty() {
            fill(inbound, r).await?;
        }
        let take = inbound.data().len().min(usize::try_from(left).unwrap_or(usize::MAX));
        write(w, &inbound.data()[..take]).await?;
        inbound.consume(take);
        left -= take as u64;
    }
    Ok(())
}

/// Relays a chunked body: everything buffered that the checker passed goes out in one
/// write, then more is read.
async fn relay_chunked<R, W>(inbound: &mut Inbound, r: &mut R, w: &mut W) -> Result<u64, BodyError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut decoder = chunked::Decoder::new();
    let mut total = 0u64;
    loop {
        let mut ready = 0;
        let mut done = false;
        loop {
            match decoder.step(&inbound.data()[ready..]).map_err(BodyError::Framing)? {
                Step::Pass(n) => ready += n,
                Step::Done(n) => {
                    ready += n;
                    done = true;
                    break;
                }
                Step::NeedMore => break,
            }
        }
        if ready > 0 {
            write(w, &inbound.data()[..ready]).await?;
            inbound.consume(ready);
            total += ready as u64;
        }
        if done {
            return Ok(total);
        }
        fill(inbound, r).await?;
    }
}

/// Reads more; the sender closing here is a truncated body.
async fn fill<R: AsyncRead + Unpin>(inbound: &mut Inbound, r: &mut R) -> Result<(), BodyError> {
    match inbound.fill(r).await {
        Ok(0) => Err(BodyError::Truncated),
        Ok(_) => Ok(()),
        Err(e) => Err(BodyError::Read(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn relay_all(input: &[u8], framing: Framing) -> (Result<u64, BodyError>, Vec<u8>, Vec<u8>) {
        let mut r = input;
        let mut inbound = Inbound::new();
        let mut out = Vec::new();
        let got = relay(&mut inbound, &mut r, &mut out, framing).await;
        let mut rest = inbound.data().to_vec();
        rest.extend_from_slice(r);
        (got, out, rest)
    }

    #[tokio::test]
    async fn relays_each_framing_and_leaves_the_next_message() {
        let (got, out, rest) = relay_all(b"5;x=1\r\nhello\r\n0\r\nT: v\r\n\r\nNEXT", Framing::Chunked).await;
        assert_eq!(got.unwrap(), 25);
        assert_eq!(out, b"5;x=1\r\nhello\r\n0\r\nT: v\r\n\r\n");
        assert_eq!(rest, b"NEXT");
        let (got, out, rest) = relay_all(b"helloNEXT", Framing::Length(5)).await;
        assert_eq!(
            (got.unwrap(), out.as_slice(), rest.as_slice()),
            (5, &b"hello"[..], &b"NEXT"[..])
        );
        let (got, out, _) = relay_all(b"NEXT", Framing::None).await;
        assert_eq!((got.unwrap(), out.len()), (0, 0));
    }

    #[tokio::test]
    async fn nothing_invalid_is_written() {
        let (got, out, _) = relay_all(b"5;a\rb\r\nhello\r\n0\r\n\r\n", Framing::Chunked).await;
        assert!(
            matches!(got, Err(BodyError::Framing(chunked::Error::LineEnd))),
            "{got:?}"
        );
        assert!(out.is_empty(), "{}", out.escape_ascii());
        let (got, out, _) = relay_all(b"3\r\nabc\r\n5zz\r\n", Framing::Chunked).await;
        assert!(
            matches!(got, Err(BodyError::Framing(chunked::Error::ChunkSize))),
            "{got:?}"
        );
        assert!(b"3\r\nabc\r\n".starts_with(&out), "{}", out.escape_ascii());
    }

    #[tokio::test]
    async fn an_early_close_is_the_senders_fault() {
        for (input, framing) in [
            (&b"hel"[..], Framing::Length(5)),
            (b"5\r\nhel", Framing::Chunked),
            (b"5\r\nhello\r\n", Framing::Chunked),
        ] {
            let (got, _, _) = relay_all(input, framing).await;
            let err = got.unwrap_err();
            assert!(matches!(err, BodyError::Truncated) && err.is_sender(), "{err}");
        }
    }

    #[tokio::test]
    async fn a_failed_write_is_the_receivers_fault() {
        // The other end of the pipe is gone: every write fails.
        let (client, mut server) = tokio::io::duplex(8);
        drop(client);
        let mut r: &[u8] = b"hello";
        let err = relay(&mut Inbound::new(), &mut r, &mut server, Framing::Length(5))
            .await
            .unwrap_err();
        assert!(matches!(err, BodyError::Write(_)) && !err.is_sender(), "{err}");
    }
}

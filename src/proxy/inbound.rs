//! Buffered reading from one side of a connection: the bytes already received but not
//! yet used (a request head, a peeked ClientHello, a pipelined request) stay here and
//! are handed on before anything new is read from the socket.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Initial buffer size; it grows (up to the caller's limit) only for large heads.
const INITIAL: usize = 4096;

/// Received bytes not yet consumed.
#[derive(Debug, Default)]
pub struct Inbound {
    buf: Vec<u8>,
    start: usize,
}

impl Inbound {
    pub fn new() -> Inbound {
        Inbound::default()
    }

    /// Bytes received and not yet consumed.
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.buf.len()
    }

    /// Marks `n` bytes as used.
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.buf.len());
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }

    /// Takes everything buffered, and the buffer's memory with it.
    pub fn take_all(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        out.drain(..self.start);
        self.start = 0;
        out
    }

    /// Reads more bytes from `r`, keeping what is buffered. Returns 0 at end of stream.
    /// Cancellation-safe.
    pub async fn fill<R: AsyncRead + Unpin>(&mut self, r: &mut R) -> io::Result<usize> {
        if self.start > 0 && self.start * 2 >= self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let want = (self.buf.len() - self.start).max(INITIAL);
        self.buf.reserve(want);
        // `read_buf` appends into spare capacity: if this future is dropped (a timeout),
        // the buffer is unchanged.
        r.read_buf(&mut self.buf).await
    }

    /// Copies exactly `n` bytes from the buffer, then `r`, to `w`.
    pub async fn copy_exact<R, W>(&mut self, r: &mut R, w: &mut W, mut n: u64) -> io::Result<()>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        while n > 0 {
            if self.is_empty() && self.fill(r).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let take = self.data().len().min(usize::try_from(n).unwrap_or(usize::MAX));
            w.write_all(&self.data()[..take]).await?;
            self.consume(take);
            n -= take as u64;
        }
        Ok(())
    }

    /// Copies everything until `r` ends. Returns the bytes copied.
    pub async fn copy_to_end<R, W>(&mut self, r: &mut R, w: &mut W) -> io::Result<u64>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut total = 0u64;
        loop {
            if self.is_empty() && self.fill(r).await? == 0 {
                return Ok(total);
            }
            let n = self.data().len();
            w.write_all(self.data()).await?;
            self.consume(n);
            total += n as u64;
        }
    }

    /// Reads one CRLF-terminated line (at most `max` bytes) and returns its length
    /// including the CRLF; the line stays buffered at the front.
    pub async fn line<R: AsyncRead + Unpin>(&mut self, r: &mut R, max: usize) -> io::Result<usize> {
        loop {
            if let Some(i) = self.data().iter().position(|&b| b == b'\n') {
                if i == 0 || self.data()[i - 1] != b'\r' {
                    return Err(invalid("line not terminated by CRLF"));
                }
                return Ok(i + 1);
            }
            if self.data().len() >= max {
                return Err(invalid("line too long"));
            }
            if self.fill(r).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }
}

pub fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fill_consume_and_copy() {
        let mut src: &[u8] = b"abcdefghij";
        let mut inb = Inbound::new();
        assert_eq!(inb.fill(&mut src).await.unwrap(), 10);
        inb.consume(3);
        assert_eq!(inb.data(), b"defghij");
        let mut out = Vec::new();
        inb.copy_exact(&mut src, &mut out, 4).await.unwrap();
        assert_eq!(out, b"defg");
        let mut rest = Vec::new();
        assert_eq!(inb.copy_to_end(&mut src, &mut rest).await.unwrap(), 3);
        assert_eq!(rest, b"hij");
        assert!(inb.copy_exact(&mut src, &mut rest, 1).await.is_err());
    }

    #[tokio::test]
    async fn lines() {
        let mut src: &[u8] = b"5;ext=1\r\nhello\r\nbad\n";
        let mut inb = Inbound::new();
        let n = inb.line(&mut src, 100).await.unwrap();
        assert_eq!(&inb.data()[..n], b"5;ext=1\r\n");
        inb.consume(n + 7);
        assert!(inb.line(&mut src, 100).await.is_err());
        let mut long: &[u8] = &[b'a'; 200];
        assert!(Inbound::new().line(&mut long, 100).await.is_err());
    }
}

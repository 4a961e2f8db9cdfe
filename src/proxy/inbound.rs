//! Buffered reading from one side of a connection: the bytes already received but not
//! yet used (a request head, a peeked ClientHello, a pipelined request) stay here and
//! are handed on before anything new is read from the socket.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

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

    /// Bytes already received, to be consumed as if read.
    pub fn from_bytes(buf: Vec<u8>) -> Inbound {
        Inbound { buf, start: 0 }
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
}

pub fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fill_consume_and_take() {
        let mut src: &[u8] = b"abcdefghij";
        let mut inb = Inbound::new();
        assert_eq!(inb.fill(&mut src).await.unwrap(), 10);
        inb.consume(3);
        assert_eq!(inb.data(), b"defghij");
        assert_eq!(inb.take_all(), b"defghij");
        assert!(inb.is_empty());
        assert_eq!(inb.fill(&mut src).await.unwrap(), 0);
    }
}

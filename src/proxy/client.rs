//! The client side of a connection: a plain TCP stream (the explicit and transparent
//! listeners) or TLS over one (the HTTPS proxy port), behind one type so that every
//! front door tells the same story. What only a plain socket can do (splice, `MSG_MORE`,
//! `SO_ORIGINAL_DST`) asks [`Client::tcp`].
//!
//! [`Replay`] serves an intercepted connection: the bytes already read (the
//! ClientHello) are read again first, then the stream itself.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::tcp;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// A client connection.
#[derive(Debug)]
pub enum Client {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Client {
    /// The plain socket, when the client speaks to it directly.
    pub fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Client::Plain(s) => Some(s),
            Client::Tls(_) => None,
        }
    }

    /// Borrowed read and write halves, usable at once.
    pub fn split(&mut self) -> (ClientRead<'_>, ClientWrite<'_>) {
        match self {
            Client::Plain(s) => {
                let (r, w) = s.split();
                (ClientRead::Plain(r), ClientWrite::Plain(w))
            }
            Client::Tls(s) => {
                let (r, w) = tokio::io::split(&mut **s);
                (ClientRead::Tls(r), ClientWrite::Tls(w))
            }
        }
    }
}

/// A stream an answer can be written to; a plain socket lets the last answer go out
/// with its FIN (`finish`).
pub trait Answerable: AsyncWrite + Unpin + Send {
    fn tcp(&self) -> Option<&TcpStream> {
        None
    }
}

impl Answerable for Client {
    fn tcp(&self) -> Option<&TcpStream> {
        Client::tcp(self)
    }
}

impl Answerable for TcpStream {
    fn tcp(&self) -> Option<&TcpStream> {
        Some(self)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Answerable for TlsStream<S> {}

macro_rules! delegate_io {
    ($ty:ty, $($variant:ident),+) => {
        impl AsyncRead for $ty {
            fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $(Self::$variant(s) => Pin::new(s).poll_read(cx, buf),)+
                }
            }
        }
        impl AsyncWrite for $ty {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                match self.get_mut() {
                    $(Self::$variant(s) => Pin::new(s).poll_write(cx, buf),)+
                }
            }
            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                match self.get_mut() {
                    $(Self::$variant(s) => Pin::new(s).poll_write_vectored(cx, bufs),)+
                }
            }
            fn is_write_vectored(&self) -> bool {
                match self {
                    $(Self::$variant(s) => s.is_write_vectored(),)+
                }
            }
            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $(Self::$variant(s) => Pin::new(s).poll_flush(cx),)+
                }
            }
            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $(Self::$variant(s) => Pin::new(s).poll_shutdown(cx),)+
                }
            }
        }
    };
}

delegate_io!(Client, Plain, Tls);

/// The read half of a [`Client`].
#[derive(Debug)]
pub enum ClientRead<'a> {
    Plain(tcp::ReadHalf<'a>),
    Tls(ReadHalf<&'a mut TlsStream<TcpStream>>),
}

/// The write half of a [`Client`].
#[derive(Debug)]
pub enum ClientWrite<'a> {
    Plain(tcp::WriteHalf<'a>),
    Tls(WriteHalf<&'a mut TlsStream<TcpStream>>),
}

impl AsyncRead for ClientRead<'_> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientRead::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ClientRead::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ClientWrite<'_> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientWrite::Plain(s) => Pin::new(s).poll_write(cx, buf),
            ClientWrite::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientWrite::Plain(s) => Pin::new(s).poll_flush(cx),
            ClientWrite::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientWrite::Plain(s) => Pin::new(s).poll_shutdown(cx),
            ClientWrite::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// A stream whose first bytes are `prefix` (already read from it), then its own.
#[derive(Debug)]
pub struct Replay<S> {
    prefix: Vec<u8>,
    at: usize,
    inner: S,
}

impl<S> Replay<S> {
    pub fn new(prefix: Vec<u8>, inner: S) -> Replay<S> {
        Replay { prefix, at: 0, inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Replay<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.at < this.prefix.len() {
            let n = (this.prefix.len() - this.at).min(buf.remaining());
            buf.put_slice(&this.prefix[this.at..this.at + n]);
            this.at += n;
            if this.at == this.prefix.len() {
                this.prefix = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Replay<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn replay_reads_the_prefix_first() {
        let rest: &[u8] = b"world";
        let mut r = Replay::new(b"hello ".to_vec(), rest);
        let mut out = String::new();
        r.read_to_string(&mut out).await.unwrap();
        assert_eq!(out, "hello world");
    }
}

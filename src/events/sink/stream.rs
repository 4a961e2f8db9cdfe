//! A sink's TCP connection, plain or TLS, that knows how much of what it wrote the
//! collector has acknowledged (SPEC §8): every byte handed to the TCP socket is
//! counted (for TLS, the encrypted bytes, below rustls), and the socket's send queue
//! (`SIOCOUTQ`) says how many of them the peer has not acknowledged yet. The stream
//! offset after a batch is its mark; the batch is delivered once the acknowledged
//! offset has reached that mark.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A TCP stream that counts the bytes written to it.
#[derive(Debug)]
pub struct Counted {
    tcp: TcpStream,
    written: u64,
}

impl AsyncRead for Counted {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.tcp).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            self.written += n as u64;
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// One connection to a collector.
#[derive(Debug)]
pub enum Conn {
    Tcp(Counted),
    Tls(Box<tokio_rustls::client::TlsStream<Counted>>),
}

impl Conn {
    /// Connects to `address` (`host:port`), with TLS when `tls` is given (the server
    /// name is the host part), within 10 s.
    ///
    /// # Errors
    ///
    /// A line naming the address and what failed.
    pub async fn connect(address: &str, tls: Option<&Arc<rustls::ClientConfig>>) -> Result<Conn, String> {
        let addr = resolve(address).await?;
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| format!("{address}: connect timed out"))?
            .map_err(|e| format!("{address}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let counted = Counted { tcp, written: 0 };
        match tls {
            None => Ok(Conn::Tcp(counted)),
            Some(cfg) => {
                let name = rustls::pki_types::ServerName::try_from(host_part(address).to_owned())
                    .map_err(|e| format!("{address}: {e}"))?;
                let stream =
                    tokio::time::timeout(CONNECT_TIMEOUT, TlsConnector::from(cfg.clone()).connect(name, counted))
                        .await
                        .map_err(|_| format!("{address}: TLS handshake timed out"))?
                        .map_err(|e| format!("{address}: TLS: {e}"))?;
                Ok(Conn::Tls(Box::new(stream)))
            }
        }
    }

    fn counted(&self) -> &Counted {
        match self {
            Conn::Tcp(c) => c,
            Conn::Tls(t) => t.get_ref().0,
        }
    }

    /// Writes `bytes` and flushes them to the socket (for TLS, as records), within
    /// `timeout`. Returns the stream offset after them: the mark to wait for.
    ///
    /// # Errors
    ///
    /// The write error, or `TimedOut` when the collector took nothing for `timeout`.
    pub async fn write(&mut self, bytes: &[u8], timeout: Duration) -> io::Result<u64> {
        let write = async {
            match self {
                Conn::Tcp(c) => {
                    c.write_all(bytes).await?;
                    c.flush().await
                }
                Conn::Tls(t) => {
                    t.write_all(bytes).await?;
                    t.flush().await
                }
            }
        };
        match tokio::time::timeout(timeout, write).await {
            Ok(Ok(())) => Ok(self.counted().written),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "the collector took nothing")),
        }
    }

    /// The stream offset the collector's TCP stack has acknowledged so far.
    ///
    /// # Errors
    ///
    /// The connection was closed or reset by the collector (a collector never sends
    /// data, so anything readable but data is an end), or the socket cannot be asked.
    pub async fn acknowledged(&mut self) -> io::Result<u64> {
        self.check_open().await?;
        let c = self.counted();
        let queued = crate::sys::unacknowledged(&c.tcp)?;
        Ok(c.written.saturating_sub(queued))
    }

    /// Reads whatever the collector sent, without waiting: an end of stream or an error
    /// means the connection is over.
    async fn check_open(&mut self) -> io::Result<()> {
        let mut probe = [0u8; 256];
        let read = async {
            match self {
                Conn::Tcp(c) => c.read(&mut probe).await,
                Conn::Tls(t) => t.read(&mut probe).await,
            }
        };
        // `timeout` polls the read once before it looks at the (zero) deadline.
        match tokio::time::timeout(Duration::ZERO, read).await {
            Err(_) => Ok(()),
            Ok(Ok(n)) if n > 0 => Ok(()),
            Ok(Ok(_)) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the collector closed the connection",
            )),
            Ok(Err(e)) => Err(e),
        }
    }

    /// Reads what the collector sent, waiting at most `wait` for the first bytes
    /// (RELP: its responses). Returns 0 when nothing came in time.
    ///
    /// # Errors
    ///
    /// End of stream (`UnexpectedEof`) or the read error.
    pub async fn read_some(&mut self, buf: &mut [u8], wait: Duration) -> io::Result<usize> {
        let read = async {
            match self {
                Conn::Tcp(c) => c.read(buf).await,
                Conn::Tls(t) => t.read(buf).await,
            }
        };
        let n = match tokio::time::timeout(wait, read).await {
            Err(_) => return Ok(0),
            Ok(Ok(0)) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the collector closed the connection",
                ))
            }
            Ok(r) => r?,
        };
        // Acknowledge what came at once: a collector whose small answers wait on Nagle's
        // algorithm (rsyslog's RELP answers do) would otherwise stall for our delayed
        // ACK (tens of ms) on every run of answers. Linux clears the flag now and
        // then, so it is set again after each read.
        #[cfg(target_os = "linux")]
        let _ = socket2::SockRef::from(&self.counted().tcp).set_quickack(true);
        Ok(n)
    }
}

/// The host of `host:port` (IPv6 in brackets).
pub fn host_part(address: &str) -> &str {
    let host = match address.rsplit_once(':') {
        Some((h, _)) => h,
        None => address,
    };
    host.trim_start_matches('[').trim_end_matches(']')
}

/// The first address `host:port` resolves to.
///
/// # Errors
///
/// A line naming the address when it does not resolve.
pub async fn resolve(address: &str) -> Result<std::net::SocketAddr, String> {
    tokio::net::lookup_host(address)
        .await
        .map_err(|e| format!("{address}: {e}"))?
        .next()
        .ok_or_else(|| format!("{address}: no address"))
}

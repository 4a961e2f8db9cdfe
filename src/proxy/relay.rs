//! The tunnel relay: both directions at once, each counting its bytes, until both are
//! done, the tunnel has been idle for `idle_timeout`, or the proxy is closing.
//!
//! A direction starts by copying through a user-space buffer that exists only while
//! data flows (an idle tunnel holds none). Once it has carried [`SPLICE_AFTER`] bytes
//! it is a bulk transfer, and on Linux it switches to `splice(2)` through a kernel
//! pipe: the bytes never enter user space.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::client::Client;
use super::Phase;

/// Copy buffer per direction while data flows.
const COPY_BUF: usize = 32 * 1024;
/// Copy buffer per direction of a TLS client's tunnel.
const TLS_COPY_BUF: usize = 64 * 1024;
/// Bytes a direction carries before it moves to `splice(2)`.
const SPLICE_AFTER: u64 = 1 << 20;
/// Pipe size asked for a bulk direction (the unprivileged maximum by default); a
/// default pipe holds 64 KiB, which is used when the larger size is refused.
#[cfg(target_os = "linux")]
const PIPE_BYTES: usize = 1 << 20;
#[cfg(target_os = "linux")]
const DEFAULT_PIPE: usize = 64 * 1024;

/// Relays until done; returns (client→upstream, upstream→client) bytes. A plain
/// client moves to `splice(2)` for bulk transfers; a TLS client is copied through one
/// buffer per direction (TLS records are at most 16 KiB of plaintext, so 64 KiB reads
/// take several records per system call).
pub(super) async fn relay(
    client: &mut Client,
    upstream: &mut TcpStream,
    idle: Duration,
    phase: watch::Receiver<Phase>,
) -> (u64, u64) {
    match client {
        Client::Plain(c) => relay_tcp(c, upstream, idle, phase).await,
        Client::Tls(c) => {
            let activity = Activity::new();
            let (up, down) = (AtomicU64::new(0), AtomicU64::new(0));
            let touch = || activity.touch();
            let (cr, cw) = tokio::io::split(&mut **c);
            let (ur, uw) = upstream.split();
            let ended = AtomicBool::new(false);
            let copy = async {
                tokio::join!(
                    pump_buffered(cr, uw, &up, &touch, &ended),
                    pump_buffered(ur, cw, &down, &touch, &ended)
                )
            };
            activity.watch(copy, idle, phase).await;
            (up.load(Ordering::Relaxed), down.load(Ordering::Relaxed))
        }
    }
}

/// When a tunnel last moved a byte.
struct Activity {
    start: tokio::time::Instant,
    /// Milliseconds after `start`.
    last: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            start: tokio::time::Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        self.last
            .store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Runs `copy` until it ends, the tunnel has been idle for `idle`, or the proxy
    /// is closing.
    async fn watch(&self, copy: impl std::future::Future, idle: Duration, mut phase: watch::Receiver<Phase>) {
        let watchdog = async {
            loop {
                let since = Duration::from_millis(self.last.load(Ordering::Relaxed));
                let due = self.start + since + idle;
                if tokio::time::Instant::now() >= due {
                    return;
                }
                tokio::time::sleep_until(due).await;
            }
        };
        tokio::select! {
            _ = copy => {}
            _ = watchdog => {}
            _ = super::until(&mut phase, |p| p == Phase::Closing) => {}
        }
    }
}

/// The plain relay (see [`relay`]).
async fn relay_tcp(
    client: &mut TcpStream,
    upstream: &mut TcpStream,
    idle: Duration,
    phase: watch::Receiver<Phase>,
) -> (u64, u64) {
    let activity = Activity::new();
    let up = AtomicU64::new(0);
    let down = AtomicU64::new(0);
    let touch = || activity.touch();
    let (cr, cw) = client.split();
    let (ur, uw) = upstream.split();
    let ended = AtomicBool::new(false);
    let copy = async { tokio::join!(pump(cr, uw, &up, &touch, &ended), pump(ur, cw, &down, &touch, &ended)) };
    activity.watch(copy, idle, phase).await;
    (up.load(Ordering::Relaxed), down.load(Ordering::Relaxed))
}

/// One direction through a buffer that exists while data flows, flushed after each
/// write (a TLS writer holds records until then); at the end, half-close as `pump`.
async fn pump_buffered<R, W>(mut src: R, mut dst: W, count: &AtomicU64, touch: &impl Fn(), ended: &AtomicBool)
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let mut buf: Vec<u8> = Vec::new();
    loop {
        if buf.capacity() == 0 {
            buf.reserve(TLS_COPY_BUF);
        }
        buf.clear();
        let n = match src.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if dst.write_all(&buf).await.is_err() || dst.flush().await.is_err() {
            break;
        }
        count.fetch_add(n as u64, Ordering::Relaxed);
        touch();
        if n < TLS_COPY_BUF / 4 {
            // A short read: the peer is likely waiting; give the memory back.
            buf = Vec::new();
        }
    }
    if !ended.swap(true, Ordering::Relaxed) {
        let _ = dst.shutdown().await;
    }
}

/// One direction: copy, then splice once it is a bulk transfer; at the end of the
/// stream (or an error) half-close the writer. The direction that ends last leaves that
/// to the `close` that follows at once (its writer's peer has sent everything, so
/// closing sends a FIN all the same): one system call less per tunnel.
async fn pump(mut src: ReadHalf<'_>, mut dst: WriteHalf<'_>, count: &AtomicU64, touch: &impl Fn(), ended: &AtomicBool) {
    if copy(&mut src, &mut dst, count, touch).await == Flow::Bulk {
        if let Err(e) = splice(src.as_ref(), dst.as_ref(), count, touch).await {
            tracing::debug!(error = %e, "splice relay ended");
        }
    }
    if !ended.swap(true, Ordering::Relaxed) {
        let _ = dst.shutdown().await;
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Done,
    Bulk,
}

/// Copies through a buffer that is allocated when data arrives and given back after a
/// short read (the socket is drained: the tunnel is likely waiting). Reads go through
/// tokio's `AsyncRead`, which notes a short read as "not readable" and so spares the
/// extra `recv` that would only say `EAGAIN`.
async fn copy(src: &mut ReadHalf<'_>, dst: &mut WriteHalf<'_>, count: &AtomicU64, touch: &impl Fn()) -> Flow {
    let mut buf: Vec<u8> = Vec::new();
    let mut moved = 0u64;
    loop {
        if src.as_ref().readable().await.is_err() {
            return Flow::Done;
        }
        buf.clear();
        buf.reserve(COPY_BUF);
        let n = match src.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return Flow::Done,
            Ok(n) => n,
        };
        if dst.write_all(&buf).await.is_err() {
            return Flow::Done;
        }
        count.fetch_add(n as u64, Ordering::Relaxed);
        touch();
        moved += n as u64;
        if moved >= SPLICE_AFTER && cfg!(target_os = "linux") {
            return Flow::Bulk;
        }
        if n < COPY_BUF {
            buf = Vec::new();
        }
    }
}

/// Elsewhere than Linux a direction never becomes bulk (see `copy`).
#[cfg(not(target_os = "linux"))]
async fn splice(_: &TcpStream, _: &TcpStream, _: &AtomicU64, _: &impl Fn()) -> io::Result<()> {
    Ok(())
}

/// Moves bytes socket → pipe → socket with `splice(2)` until the end of the stream.
#[cfg(target_os = "linux")]
async fn splice(src: &TcpStream, dst: &TcpStream, count: &AtomicU64, touch: &impl Fn()) -> io::Result<()> {
    use rustix::pipe::{PipeFlags, SpliceFlags};
    use tokio::io::Interest;
    let (pipe_out, pipe_in) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
    let chunk = rustix::pipe::fcntl_setpipe_size(&pipe_in, PIPE_BYTES).unwrap_or(DEFAULT_PIPE);
    let flags = SpliceFlags::MOVE | SpliceFlags::NONBLOCK;
    loop {
        src.readable().await?;
        let filled = src.try_io(Interest::READABLE, || {
            rustix::pipe::splice(src, None, &pipe_in, None, chunk, flags).map_err(io::Error::from)
        });
        let mut in_pipe = match filled {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        };
        while in_pipe > 0 {
            dst.writable().await?;
            let drained = dst.try_io(Interest::WRITABLE, || {
                rustix::pipe::splice(&pipe_out, None, dst, None, in_pipe, flags).map_err(io::Error::from)
            });
            match drained {
                Ok(n) => {
                    in_pipe -= n;
                    count.fetch_add(n as u64, Ordering::Relaxed);
                    touch();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A connected pair of TCP streams on loopback.
    async fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (b, _) = l.accept().await.unwrap();
        (a, b)
    }

    #[tokio::test]
    async fn relays_small_and_bulk_transfers_both_ways_exactly() {
        let (mut client, proxy_client) = pair().await;
        let (proxy_upstream, mut server) = pair().await;
        let (_tx, rx) = watch::channel(Phase::Running);
        let (mut pc, mut pu) = (proxy_client, proxy_upstream);
        let relay = tokio::spawn(async move { relay_tcp(&mut pc, &mut pu, Duration::from_secs(30), rx).await });
        // Small request, bulk answer (switches to splice), then close both ways.
        let big: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
        let expected = big.clone();
        let srv = tokio::spawn(async move {
            let mut req = [0u8; 5];
            server.read_exact(&mut req).await.unwrap();
            assert_eq!(&req, b"hello");
            server.write_all(&big).await.unwrap();
            server.shutdown().await.unwrap();
            let mut rest = Vec::new();
            server.read_to_end(&mut rest).await.unwrap();
            rest
        });
        client.write_all(b"hello").await.unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got.len(), expected.len());
        assert!(got == expected, "bytes differ");
        client.write_all(b"bye").await.unwrap();
        client.shutdown().await.unwrap();
        assert_eq!(srv.await.unwrap(), b"bye");
        let (up, down) = relay.await.unwrap();
        assert_eq!((up, down), (8, 5_000_000));
    }

    #[tokio::test]
    async fn idle_tunnels_are_closed() {
        let (_client, mut proxy_client) = pair().await;
        let (mut proxy_upstream, _server) = pair().await;
        let (_tx, rx) = watch::channel(Phase::Running);
        let t = tokio::time::Instant::now();
        let (up, down) = relay_tcp(&mut proxy_client, &mut proxy_upstream, Duration::from_millis(100), rx).await;
        assert_eq!((up, down), (0, 0));
        assert!(t.elapsed() >= Duration::from_millis(100));
    }
}

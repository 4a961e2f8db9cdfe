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
use crate::tls::hello_watch::{HelloWatch, Watched};

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
///
/// With `hellos`, the client's records are watched first (`tls::hello_watch`): a
/// second ClientHello naming another server ends the relay before a byte of it is
/// relayed, and [`Relayed::cut`] says so.
pub(super) async fn relay(
    client: &mut Client,
    upstream: &mut TcpStream,
    idle: Duration,
    phase: watch::Receiver<Phase>,
    hellos: Option<HelloWatch>,
) -> Relayed {
    let activity = Activity::new();
    let (up, down) = (AtomicU64::new(0), AtomicU64::new(0));
    let touch = || activity.touch();
    let ended = AtomicBool::new(false);
    let cut = Cut::default();
    match client {
        Client::Plain(c) => {
            let (mut cr, cw) = c.split();
            let (ur, mut uw) = upstream.split();
            let upward = async {
                match watched(&mut cr, &mut uw, hellos, &up, &touch, &cut).await {
                    Watch::Over => pump(cr, uw, &up, &touch, &ended).await,
                    Watch::Ended => half_close(&mut uw, &ended).await,
                    Watch::Cut => {}
                }
            };
            let copy = async { tokio::join!(upward, pump(ur, cw, &down, &touch, &ended)) };
            activity.watch(copy, idle, phase, &cut).await;
        }
        Client::Tls(c) => {
            let (mut cr, cw) = tokio::io::split(&mut **c);
            let (ur, mut uw) = upstream.split();
            let upward = async {
                match watched(&mut cr, &mut uw, hellos, &up, &touch, &cut).await {
                    Watch::Over => pump_buffered(cr, uw, &up, &touch, &ended).await,
                    Watch::Ended => half_close(&mut uw, &ended).await,
                    Watch::Cut => {}
                }
            };
            let copy = async { tokio::join!(upward, pump_buffered(ur, cw, &down, &touch, &ended)) };
            activity.watch(copy, idle, phase, &cut).await;
        }
    }
    Relayed {
        up: up.load(Ordering::Relaxed),
        down: down.load(Ordering::Relaxed),
        cut: cut.taken(),
    }
}

/// How a relay went.
#[derive(Debug)]
pub(super) struct Relayed {
    /// Bytes client → upstream.
    pub up: u64,
    /// Bytes upstream → client.
    pub down: u64,
    /// Set when the hello watch cut the tunnel ([`Watched::Switched`] or
    /// [`Watched::Invalid`]).
    pub cut: Option<Watched>,
}

/// The watch's verdict, shared with the relay's select.
#[derive(Default)]
struct Cut {
    why: std::sync::Mutex<Option<Watched>>,
    now: tokio::sync::Notify,
}

impl Cut {
    fn set(&self, why: Watched) {
        *self.why.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
        self.now.notify_one();
    }

    fn taken(&self) -> Option<Watched> {
        self.why.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// How the watch phase of a direction ended.
enum Watch {
    /// The relay goes on unwatched.
    Over,
    /// The client's stream ended (or a write failed) while watched.
    Ended,
    /// The watch cut the tunnel.
    Cut,
}

/// Half-closes a direction's writer unless the other direction ended first (see `pump`).
async fn half_close<W: tokio::io::AsyncWrite + Unpin>(dst: &mut W, ended: &AtomicBool) {
    if !ended.swap(true, Ordering::Relaxed) {
        let _ = dst.shutdown().await;
    }
}

/// The client→upstream direction while the hello watch runs: whole records are relayed
/// as the watch passes them; once the watch is over, the bytes buffered past it are
/// relayed first and the direction goes on unwatched.
async fn watched<R, W>(
    src: &mut R,
    dst: &mut W,
    hellos: Option<HelloWatch>,
    count: &AtomicU64,
    touch: &impl Fn(),
    cut: &Cut,
) -> Watch
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let Some(mut watch) = hellos else { return Watch::Over };
    let mut buf: Vec<u8> = Vec::new();
    // Bytes at the front of `buf` that the watch passed and are not relayed yet: they
    // go out together, in one write, when more must be read or the watch ends.
    let mut passed = 0;
    loop {
        match watch.feed(&buf[passed..]) {
            Watched::Pass(n) => passed += n,
            Watched::NeedMore => {
                if passed > 0 {
                    if !relay_rest(dst, &buf[..passed], count).await {
                        return Watch::Ended;
                    }
                    touch();
                    buf.drain(..passed);
                    passed = 0;
                }
                match src.read_buf(&mut buf).await {
                    Ok(0) | Err(_) => {
                        // What is buffered is an incomplete record: relayed as it is.
                        let _ = buf.is_empty() || relay_rest(dst, &buf, count).await;
                        return Watch::Ended;
                    }
                    Ok(_) => touch(),
                }
            }
            Watched::Done if buf.is_empty() || relay_rest(dst, &buf, count).await => return Watch::Over,
            Watched::Done => return Watch::Ended,
            why => {
                cut.set(why);
                return Watch::Cut;
            }
        }
    }
}

async fn relay_rest<W: tokio::io::AsyncWrite + Unpin>(dst: &mut W, buf: &[u8], count: &AtomicU64) -> bool {
    let ok = dst.write_all(buf).await.is_ok() && dst.flush().await.is_ok();
    if ok {
        count.fetch_add(buf.len() as u64, Ordering::Relaxed);
    }
    ok
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
    async fn watch(
        &self,
        copy: impl std::future::Future,
        idle: Duration,
        mut phase: watch::Receiver<Phase>,
        cut: &Cut,
    ) {
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
            _ = cut.now.notified() => {}
            _ = super::until(&mut phase, |p| p == Phase::Closing) => {}
        }
    }
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
    half_close(&mut dst, ended).await;
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
        let (mut pc, mut pu) = (Client::Plain(proxy_client), proxy_upstream);
        let relay = tokio::spawn(async move {
            let r = relay(&mut pc, &mut pu, Duration::from_secs(30), rx, None).await;
            (r.up, r.down)
        });
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
        let (_client, proxy_client) = pair().await;
        let (mut proxy_upstream, _server) = pair().await;
        let (_tx, rx) = watch::channel(Phase::Running);
        let t = tokio::time::Instant::now();
        let mut proxy_client = Client::Plain(proxy_client);
        let r = relay(
            &mut proxy_client,
            &mut proxy_upstream,
            Duration::from_millis(100),
            rx,
            None,
        )
        .await;
        let (up, down) = (r.up, r.down);
        assert_eq!((up, down), (0, 0));
        assert!(t.elapsed() >= Duration::from_millis(100));
    }
}

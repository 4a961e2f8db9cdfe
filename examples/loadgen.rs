//! Load generator for the scenarios `oha` does not cover, used by `bench/compare.sh`:
//!
//! - `blocked`: new connection, `CONNECT host:443`, read the refusal (status and body), close.
//!   Without a proxy: new connection, `GET /blocked`, read the answer, close.
//! - `bulk`: one tunnel to a cleartext port, `GET /big` inside, read every byte.
//! - `idle`: open `--count` tunnels (CONNECT, TLS, one GET each), hold them for `--hold`
//!   seconds, then close them. A line `{"held": N}` goes to stderr once all are open.
//! - `tunnel`: a new tunnel per operation (CONNECT, TLS with SNI, `GET /small`, close);
//!   with `--expect-status 403` and the block-page CA as `--cacert`, an intercepted one.
//!   Without a proxy it connects straight to `--connect`: where a REDIRECT sends that to
//!   slagboom's transparent listener, this is the transparent path.
//!
//! Closed loop: `-c` workers, each starts its next operation when the previous one ends.
//! One JSON object is printed on stdout at the end.
//!
//! ```text
//! cargo run --release --example loadgen -- --mode blocked --proxy 127.0.0.1:3128 \
//!     --target www.tiktok.com:443 -c 50 --duration 10
//! ```
#![allow(clippy::unwrap_used)] // a benchmark tool: a failed invariant may abort it

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::Engine;
use clap::{Parser, ValueEnum};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    Blocked,
    Bulk,
    Idle,
    Tunnel,
}

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, value_enum)]
    mode: Mode,
    /// Proxy address, or `none` to go direct to `--connect`.
    #[arg(long, default_value = "none")]
    proxy: String,
    /// `host:port` asked of the proxy (CONNECT) and used for SNI and Host.
    #[arg(long)]
    target: String,
    /// Where to connect when there is no proxy.
    #[arg(long)]
    connect: Option<SocketAddr>,
    /// Device credentials sent as `Proxy-Authorization: Basic` (`device:token`).
    #[arg(long)]
    auth: Option<String>,
    /// CA certificate (PEM) of the TLS origin, for `idle`.
    #[arg(long)]
    cacert: Option<std::path::PathBuf>,
    /// The status `GET /small` inside a tunnel must get: 403 measures intercepted
    /// tunnels (the block page over TLS, `--cacert` the block-page CA).
    #[arg(long, default_value_t = 200)]
    expect_status: u16,
    #[arg(short = 'c', long, default_value_t = 50)]
    concurrency: usize,
    /// Seconds of load (`blocked`).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Tunnels to hold (`idle`).
    #[arg(long, default_value_t = 1000)]
    count: usize,
    /// Seconds to hold the idle tunnels.
    #[arg(long, default_value_t = 5.0)]
    hold: f64,
    /// Path fetched by `bulk`.
    #[arg(long, default_value = "/big")]
    path: String,
}

struct Counters {
    ok: AtomicU64,
    errors: AtomicU64,
}

fn main() -> anyhow::Result<()> {
    let args = Arc::new(Args::parse());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        let report = match args.mode {
            Mode::Blocked | Mode::Tunnel => closed_loop(args.clone()).await?,
            Mode::Bulk => bulk(&args).await?,
            Mode::Idle => idle(args.clone()).await?,
        };
        println!("{report}");
        Ok(())
    })
}

fn proxy_addr(args: &Args) -> anyhow::Result<Option<SocketAddr>> {
    if args.proxy == "none" {
        return Ok(None);
    }
    Ok(Some(args.proxy.parse().context("--proxy")?))
}

fn auth_header(args: &Args) -> String {
    match &args.auth {
        Some(a) => format!(
            "Proxy-Authorization: Basic {}\r\n",
            base64::engine::general_purpose::STANDARD.encode(a)
        ),
        None => String::new(),
    }
}

async fn connect(args: &Args) -> anyhow::Result<TcpStream> {
    let addr = match (proxy_addr(args)?, args.connect) {
        (Some(p), _) => p,
        (None, Some(c)) => c,
        (None, None) => bail!("--connect is needed without a proxy"),
    };
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Reads one response head; returns the status and the bytes read past it.
async fn read_head<S: AsyncRead + Unpin>(s: &mut S) -> anyhow::Result<(u16, usize, Vec<u8>)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            bail!("closed before a response head");
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).context("head")?;
            let status: u16 = head.split(' ').nth(1).context("status line")?.parse()?;
            let length = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.trim().parse::<usize>())
                .transpose()?
                .unwrap_or(0);
            return Ok((status, length, buf.split_off(end + 4)));
        }
        if buf.len() > 64 * 1024 {
            bail!("response head too long");
        }
    }
}

/// Reads and discards `left` body bytes, returning how many arrived.
async fn drain<S: AsyncRead + Unpin>(s: &mut S, mut left: usize) -> anyhow::Result<u64> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    while left > 0 {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            bail!("closed with {left} body bytes missing");
        }
        left = left.saturating_sub(n);
        total += n as u64;
    }
    Ok(total)
}

/// Sends CONNECT and expects `want`; returns the stream and the rest of the answer.
async fn connect_through(args: &Args, want: u16) -> anyhow::Result<(TcpStream, usize, Vec<u8>)> {
    let mut s = connect(args).await?;
    let req = format!(
        "CONNECT {t} HTTP/1.1\r\nHost: {t}\r\n{a}\r\n",
        t = args.target,
        a = auth_header(args)
    );
    s.write_all(req.as_bytes()).await?;
    let (status, length, rest) = read_head(&mut s).await?;
    if status != want {
        bail!("CONNECT answered {status}, expected {want}");
    }
    Ok((s, length, rest))
}

async fn blocked_once(args: &Args) -> anyhow::Result<()> {
    if proxy_addr(args)?.is_some() {
        let (mut s, length, rest) = connect_through(args, 403).await?;
        drain(&mut s, length.saturating_sub(rest.len())).await?;
    } else {
        let mut s = connect(args).await?;
        let req = format!(
            "GET /blocked HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            args.target
        );
        s.write_all(req.as_bytes()).await?;
        let (status, length, rest) = read_head(&mut s).await?;
        if status != 403 {
            bail!("GET /blocked answered {status}");
        }
        drain(&mut s, length.saturating_sub(rest.len())).await?;
    }
    Ok(())
}

/// One operation of a closed-loop mode.
async fn once(args: &Args, tls: Option<&tokio_rustls::TlsConnector>) -> anyhow::Result<()> {
    match tls {
        Some(tls) => open_idle(args, tls).await.map(drop),
        None => blocked_once(args).await,
    }
}

async fn closed_loop(args: Arc<Args>) -> anyhow::Result<serde_json::Value> {
    let tls = match args.mode {
        Mode::Tunnel => Some(Arc::new(tls_connector(&args)?)),
        _ => None,
    };
    let counters = Arc::new(Counters {
        ok: AtomicU64::new(0),
        errors: AtomicU64::new(0),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (args, counters, stop, first_error) = (args.clone(), counters.clone(), stop.clone(), first_error.clone());
        let tls = tls.clone();
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match tokio::time::timeout(Duration::from_secs(10), once(&args, tls.as_deref())).await {
                    Ok(Ok(())) => {
                        counters.ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Err(e)) => {
                        counters.errors.fetch_add(1, Ordering::Relaxed);
                        first_error.lock().unwrap().get_or_insert(e.to_string());
                    }
                    Err(_) => {
                        counters.errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(args.duration)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ok = counters.ok.load(Ordering::Relaxed);
    Ok(serde_json::json!({
        "mode": if args.mode == Mode::Tunnel { "tunnel" } else { "blocked" },
        "ok": ok,
        "errors": counters.errors.load(Ordering::Relaxed),
        "first_error": *first_error.lock().unwrap(),
        "seconds": elapsed,
        "rate": ok as f64 / elapsed,
    }))
}

async fn bulk(args: &Args) -> anyhow::Result<serde_json::Value> {
    let started = Instant::now();
    let mut s = if proxy_addr(args)?.is_some() {
        connect_through(args, 200).await?.0
    } else {
        connect(args).await?
    };
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        args.path, args.target
    );
    s.write_all(req.as_bytes()).await?;
    let (status, length, rest) = read_head(&mut s).await?;
    if status != 200 {
        bail!("GET {} answered {status}", args.path);
    }
    let bytes = rest.len() as u64 + drain(&mut s, length.saturating_sub(rest.len())).await?;
    let elapsed = started.elapsed().as_secs_f64();
    Ok(serde_json::json!({
        "mode": "bulk",
        "ok": 1,
        "bytes": bytes,
        "seconds": elapsed,
        "mb_per_s": bytes as f64 / 1e6 / elapsed,
    }))
}

fn tls_connector(args: &Args) -> anyhow::Result<tokio_rustls::TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    let path = args.cacert.as_ref().context("--cacert is needed for TLS tunnels")?;
    for cert in CertificateDer::pem_file_iter(path)? {
        roots.add(cert?)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

async fn open_idle(
    args: &Args,
    tls: &tokio_rustls::TlsConnector,
) -> anyhow::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let s = if proxy_addr(args)?.is_some() {
        let (s, _, rest) = connect_through(args, 200).await?;
        if !rest.is_empty() {
            bail!("bytes after the CONNECT answer");
        }
        s
    } else {
        connect(args).await?
    };
    let host = args.target.rsplit_once(':').map_or(args.target.as_str(), |(h, _)| h);
    let mut tls = tls.connect(ServerName::try_from(host.to_owned())?, s).await?;
    let close = if args.mode == Mode::Tunnel {
        "Connection: close\r\n"
    } else {
        ""
    };
    let req = format!("GET /small HTTP/1.1\r\nHost: {host}\r\n{close}\r\n");
    tls.write_all(req.as_bytes()).await?;
    let (status, length, rest) = read_head(&mut tls).await?;
    if status != args.expect_status {
        bail!("GET /small answered {status}");
    }
    drain(&mut tls, length.saturating_sub(rest.len())).await?;
    Ok(tls)
}

async fn idle(args: Arc<Args>) -> anyhow::Result<serde_json::Value> {
    let tls = tls_connector(&args)?;
    let started = Instant::now();
    let mut held = Vec::with_capacity(args.count);
    let mut errors = 0u64;
    let mut first_error = None;
    while held.len() < args.count {
        let mut batch = tokio::task::JoinSet::new();
        for _ in 0..(args.count - held.len()).min(args.concurrency.max(1)) {
            let (args, tls) = (args.clone(), tls.clone());
            batch.spawn(async move { open_idle(&args, &tls).await });
        }
        while let Some(r) = batch.join_next().await {
            match r? {
                Ok(t) => held.push(t),
                Err(e) => {
                    errors += 1;
                    first_error.get_or_insert(e.to_string());
                }
            }
        }
        if errors > args.count as u64 / 10 + 10 {
            bail!("too many failures opening tunnels: {}", first_error.unwrap_or_default());
        }
    }
    eprintln!("{}", serde_json::json!({ "held": held.len() }));
    tokio::time::sleep(Duration::from_secs_f64(args.hold)).await;
    let n = held.len();
    drop(held);
    Ok(serde_json::json!({
        "mode": "idle",
        "ok": n,
        "errors": errors,
        "first_error": first_error,
        "seconds": started.elapsed().as_secs_f64(),
    }))
}

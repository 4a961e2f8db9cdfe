//! Syslog: RFC 5424 messages over TCP or TLS (RFC 5425) with RFC 6587 octet counting
//! (`LEN SP MSG`), or over UDP (RFC 5426), one message per datagram, cut at
//! [`MAX_DATAGRAM`] bytes on a character boundary. The connection is made on first use
//! and again after any failure.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio_rustls::TlsConnector;

use super::SendError;
use crate::config::{Format, Transport as Kind};
use crate::events::format::{self, rfc5424};
use crate::events::Record;

/// Largest UDP message sent.
pub const MAX_DATAGRAM: usize = 8192;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Sync + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync + std::fmt::Debug> Stream for T {}

/// A syslog sink's transport.
#[derive(Debug)]
pub struct Syslog {
    address: String,
    kind: Kind,
    format: Format,
    facility: u8,
    tls: Option<Arc<rustls::ClientConfig>>,
    stream: Option<Box<dyn Stream>>,
    udp: Option<UdpSocket>,
    buf: Vec<u8>,
    msg: Vec<u8>,
}

impl Syslog {
    pub fn new(
        address: String,
        kind: Kind,
        format: Format,
        facility: u8,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Syslog {
        Syslog {
            address,
            kind,
            format,
            facility,
            tls,
            stream: None,
            udp: None,
            buf: Vec::new(),
            msg: Vec::new(),
        }
    }

    pub fn is_stream(&self) -> bool {
        self.kind != Kind::Udp
    }

    /// The message for one event: RFC 5424 carrying ECS JSON (`rfc5424`) or CEF
    /// (`cef`), or the bare ECS object (`ecs`).
    fn encode(&mut self, r: &Record) -> Result<(), String> {
        self.msg.clear();
        if self.format == Format::Cef {
            rfc5424::header(r.action, r.timestamp, &r.observer, self.facility, &mut self.msg);
        }
        format::message(self.format, r, self.facility, &mut self.msg)
    }

    pub async fn send(&mut self, records: &[Record]) -> Result<(), SendError> {
        if self.kind == Kind::Udp {
            return self.send_udp(records).await;
        }
        self.buf.clear();
        let mut bad = Vec::new();
        for (i, r) in records.iter().enumerate() {
            if self.encode(r).is_err() {
                bad.push(i);
                continue;
            }
            self.buf
                .extend_from_slice(itoa::Buffer::new().format(self.msg.len()).as_bytes());
            self.buf.push(b' ');
            self.buf.extend_from_slice(&self.msg);
        }
        if self.stream.is_some() && !self.alive().await {
            self.stream = None;
        }
        if self.stream.is_none() {
            self.stream = Some(self.connect().await.map_err(SendError::Retry)?);
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(SendError::Retry("not connected".into()));
        };
        let write = async {
            stream.write_all(&self.buf).await?;
            stream.flush().await
        };
        match tokio::time::timeout(WRITE_TIMEOUT, write).await {
            Ok(Ok(())) if bad.is_empty() => Ok(()),
            Ok(Ok(())) => Err(SendError::Poison(bad, "cannot encode".into())),
            Ok(Err(e)) => {
                self.stream = None;
                Err(SendError::Retry(format!("{}: {e}", self.address)))
            }
            Err(_) => {
                self.stream = None;
                Err(SendError::Retry(format!("{}: write timed out", self.address)))
            }
        }
    }

    async fn send_udp(&mut self, records: &[Record]) -> Result<(), SendError> {
        if self.udp.is_none() {
            let target = resolve(&self.address).await.map_err(SendError::Retry)?;
            let bind = if target.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
            let sock = UdpSocket::bind(bind)
                .await
                .map_err(|e| SendError::Retry(e.to_string()))?;
            sock.connect(target)
                .await
                .map_err(|e| SendError::Retry(e.to_string()))?;
            self.udp = Some(sock);
        }
        for r in records {
            if self.encode(r).is_err() {
                continue;
            }
            let Some(sock) = &self.udp else { break };
            let datagram = rfc5424::truncate(&self.msg, MAX_DATAGRAM);
            if let Err(err) = sock.send(datagram).await {
                self.udp = None;
                return Err(SendError::Retry(format!("{}: {err}", self.address)));
            }
        }
        Ok(())
    }

    /// True when the connection has not been closed by the collector (a collector
    /// never sends data, so anything readable is an end of stream or an error).
    pub async fn alive(&mut self) -> bool {
        let Some(stream) = self.stream.as_mut() else {
            return false;
        };
        let mut probe = [0u8; 64];
        match tokio::time::timeout(Duration::ZERO, stream.read(&mut probe)).await {
            Err(_) => true,
            Ok(Ok(n)) if n > 0 => true,
            Ok(_) => {
                self.stream = None;
                false
            }
        }
    }

    async fn connect(&self) -> Result<Box<dyn Stream>, String> {
        let addr = resolve(&self.address).await?;
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| format!("{}: connect timed out", self.address))?
            .map_err(|e| format!("{}: {e}", self.address))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => Ok(Box::new(tcp)),
            Some(cfg) => {
                let host = host_part(&self.address);
                let name = rustls::pki_types::ServerName::try_from(host.to_owned())
                    .map_err(|e| format!("{}: {e}", self.address))?;
                let tls = tokio::time::timeout(CONNECT_TIMEOUT, TlsConnector::from(cfg.clone()).connect(name, tcp))
                    .await
                    .map_err(|_| format!("{}: TLS handshake timed out", self.address))?
                    .map_err(|e| format!("{}: TLS: {e}", self.address))?;
                Ok(Box::new(tls))
            }
        }
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

async fn resolve(address: &str) -> Result<std::net::SocketAddr, String> {
    tokio::net::lookup_host(address)
        .await
        .map_err(|e| format!("{address}: {e}"))?
        .next()
        .ok_or_else(|| format!("{address}: no address"))
}

//! Syslog: RFC 5424 messages over TCP or TLS (RFC 5425) with RFC 6587 octet counting
//! (`LEN SP MSG`), or over UDP (RFC 5426), one message per datagram, cut at
//! [`MAX_DATAGRAM`] bytes on a character boundary. The connection is made on first use
//! and again after any failure. Over TCP and TLS an event is delivered once the
//! collector's TCP stack has acknowledged every byte of it ([`super::stream`]); UDP is
//! best effort.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;

use super::stream::{resolve, Conn};
use super::{SendError, Sent};
use crate::config::{Format, Transport as Kind};
use crate::events::format::{self, rfc5424};
use crate::events::Record;

/// Largest UDP message sent.
pub const MAX_DATAGRAM: usize = 8192;

/// One event's syslog message in a sink's format.
#[derive(Debug)]
pub(super) struct Encoder {
    format: Format,
    facility: u8,
    msg: Vec<u8>,
}

impl Encoder {
    pub(super) fn new(format: Format, facility: u8) -> Encoder {
        Encoder {
            format,
            facility,
            msg: Vec::new(),
        }
    }

    /// The message for one event: RFC 5424 carrying ECS JSON (`rfc5424`) or CEF
    /// (`cef`), or the bare ECS object (`ecs`).
    pub(super) fn message(&mut self, r: &Record) -> Result<&[u8], String> {
        self.msg.clear();
        if self.format == Format::Cef {
            rfc5424::header(r.action, r.timestamp, &r.observer, self.facility, &mut self.msg);
        }
        format::message(self.format, r, self.facility, &mut self.msg)?;
        Ok(&self.msg)
    }
}

/// A syslog sink's transport.
#[derive(Debug)]
pub struct Syslog {
    address: String,
    kind: Kind,
    encoder: Encoder,
    tls: Option<Arc<rustls::ClientConfig>>,
    /// How long a write may wait for the collector to take bytes.
    stall: Duration,
    conn: Option<Conn>,
    udp: Option<UdpSocket>,
    buf: Vec<u8>,
}

impl Syslog {
    pub fn new(
        address: String,
        kind: Kind,
        format: Format,
        facility: u8,
        tls: Option<Arc<rustls::ClientConfig>>,
        stall: Duration,
    ) -> Syslog {
        Syslog {
            address,
            kind,
            encoder: Encoder::new(format, facility),
            tls,
            stall,
            conn: None,
            udp: None,
            buf: Vec::new(),
        }
    }

    /// Sends a batch. Over TCP and TLS the batch is only handed to the connection: it
    /// is delivered once [`Syslog::acknowledged`] reaches the returned mark. A
    /// connection that failed since the last call is never silently replaced here (its
    /// unacknowledged events must be sent again first): the call fails, and the next
    /// one connects anew.
    pub async fn send(&mut self, records: &[Record]) -> Result<Sent, SendError> {
        if self.kind == Kind::Udp {
            return self.send_udp(records).await;
        }
        self.buf.clear();
        let mut poison = Vec::new();
        for (i, r) in records.iter().enumerate() {
            let Ok(msg) = self.encoder.message(r) else {
                poison.push(i);
                continue;
            };
            self.buf
                .extend_from_slice(itoa::Buffer::new().format(msg.len()).as_bytes());
            self.buf.push(b' ');
            self.buf.extend_from_slice(msg);
        }
        let conn = match &mut self.conn {
            Some(c) => c,
            None => self.conn.insert(
                Conn::connect(&self.address, self.tls.as_ref())
                    .await
                    .map_err(SendError::Retry)?,
            ),
        };
        match conn.write(&self.buf, self.stall).await {
            Ok(mark) => Ok(Sent::Pending { mark, poison }),
            Err(e) => {
                self.conn = None;
                Err(SendError::Retry(format!("{}: {e}", self.address)))
            }
        }
    }

    /// The stream offset the collector has acknowledged on the current connection.
    ///
    /// # Errors
    ///
    /// The connection is gone (closed, reset, or never made); it is dropped.
    pub async fn acknowledged(&mut self) -> Result<u64, String> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(format!("{}: not connected", self.address));
        };
        conn.acknowledged().await.map_err(|e| {
            self.conn = None;
            format!("{}: {e}", self.address)
        })
    }

    /// Drops the connection (a stalled collector): the next send connects anew.
    pub fn reset(&mut self) {
        self.conn = None;
    }

    /// UDP is best effort: a datagram sent counts as delivered.
    async fn send_udp(&mut self, records: &[Record]) -> Result<Sent, SendError> {
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
            let Ok(msg) = self.encoder.message(r) else {
                continue;
            };
            let Some(sock) = &self.udp else { break };
            let datagram = rfc5424::truncate(msg, MAX_DATAGRAM);
            if let Err(err) = sock.send(datagram).await {
                self.udp = None;
                return Err(SendError::Retry(format!("{}: {err}", self.address)));
            }
        }
        Ok(Sent::Delivered)
    }
}

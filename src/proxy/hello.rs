//! The first bytes of a TLS connection, read whole however they are fragmented: a
//! ClientHello (its SNI and ECH), bytes that are not TLS, or nothing at all, within
//! `client_hello_timeout` and `client_hello_bytes` (SPEC §9). Shared by every front
//! door that sees a client's TLS.

use tokio::io::AsyncRead;

use super::inbound::Inbound;
use crate::config::file::Limits;
use crate::events::{Event, Reason};
use crate::host::Host;
use crate::tls::client_hello::{self, Alert, Parsed};

/// What the first bytes said.
#[derive(Debug)]
pub enum Hello {
    /// A ClientHello (SNI as sent, ECH).
    Tls { sni: Option<String>, ech: bool },
    /// Not TLS, and the caller lets such bytes through.
    Opaque,
    /// The client closed without sending anything.
    Closed,
}

/// The normalised SNI of a ClientHello, with what it tells the event (the server
/// name, ECH). `Err` when the name is no host name (a malformed hello: `decode_error`).
pub fn server_name(hello: &Hello, event: &mut Event) -> Result<Option<Host>, ()> {
    let Hello::Tls { sni, ech } = hello else {
        return Ok(None);
    };
    event.ech = *ech;
    let Some(sni) = sni else {
        return Ok(None);
    };
    let Ok(host) = Host::parse(sni) else {
        event.server_name = Some(sni.clone());
        return Err(());
    };
    event.server_name = Some(host.as_str().to_owned());
    Ok(Some(host))
}

/// Reads until a whole ClientHello is buffered (or the bytes are not TLS). A failure
/// carries the alert due (SPEC §6): none before a handshake record header was read,
/// `decode_error` for a malformed hello, `internal_error` for one too large or too slow.
pub async fn read<R: AsyncRead + Unpin>(
    inbound: &mut Inbound,
    client: &mut R,
    limits: &Limits,
    allow_opaque: bool,
) -> Result<Hello, (Reason, Option<Alert>)> {
    let deadline = tokio::time::Instant::now() + limits.client_hello_timeout;
    let failed = |inbound: &Inbound, reason, alert| {
        let tls = client_hello::record_header_read(inbound.data());
        Err((reason, tls.then_some(alert)))
    };
    loop {
        if !inbound.is_empty() {
            match client_hello::parse(inbound.data(), limits.client_hello_bytes) {
                Ok(Parsed::Done(h)) => {
                    return Ok(Hello::Tls {
                        sni: h.server_name,
                        ech: h.ech,
                    })
                }
                Ok(Parsed::NeedMore) => {}
                Err(client_hello::Error::NotTls) if allow_opaque => return Ok(Hello::Opaque),
                Err(client_hello::Error::NotTls) => return Err((Reason::NotTls, None)),
                Err(client_hello::Error::Invalid(_)) => {
                    return failed(inbound, Reason::ClientHelloInvalid, Alert::DecodeError)
                }
                Err(client_hello::Error::TooLarge) => {
                    return failed(inbound, Reason::ClientHelloInvalid, Alert::InternalError)
                }
            }
        }
        match tokio::time::timeout_at(deadline, inbound.fill(client)).await {
            Err(_) => return failed(inbound, Reason::ClientHelloTimeout, Alert::InternalError),
            Ok(Ok(0)) | Ok(Err(_)) if inbound.is_empty() => return Ok(Hello::Closed),
            Ok(Ok(0)) | Ok(Err(_)) => return failed(inbound, Reason::ClientHelloInvalid, Alert::DecodeError),
            Ok(Ok(_)) => {}
        }
    }
}

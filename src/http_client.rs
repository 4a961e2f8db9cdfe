//! A small HTTP/1.1 client on hyper for slagboom's own outbound requests (HTTP sinks,
//! registry URLs): `http://` or `https://` with rustls, one connection at a time.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

const TIMEOUT: Duration = Duration::from_secs(30);

/// A parsed `http://` or `https://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub https: bool,
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl Url {
    pub fn parse(text: &str) -> Result<Url, String> {
        let (https, rest) = if let Some(r) = text.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = text.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(format!("{text:?} is not an http:// or https:// URL"));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match crate::host::Host::parse_authority(authority) {
            Ok((h, p)) => (h.to_string(), p.unwrap_or(if https { 443 } else { 80 })),
            Err(e) => return Err(format!("{text:?}: {e}")),
        };
        Ok(Url {
            https,
            host,
            port,
            path: path.to_owned(),
        })
    }

    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{host}:{}", self.port)
    }
}

/// Opens a connection to `url`'s origin (TLS for `https://`) and returns its sender.
pub async fn connect(url: &Url, tls: Option<&Arc<rustls::ClientConfig>>) -> Result<SendRequest<Full<Bytes>>, String> {
    let authority = url.authority();
    let tcp = tokio::time::timeout(TIMEOUT, TcpStream::connect((url.host.as_str(), url.port)))
        .await
        .map_err(|_| format!("{authority}: connect timed out"))?
        .map_err(|e| format!("{authority}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    if !url.https {
        return handshake(TokioIo::new(tcp)).await;
    }
    let cfg = match tls {
        Some(c) => c.clone(),
        None => crate::tls::client::config(None, None)?,
    };
    let name = rustls::pki_types::ServerName::try_from(url.host.clone()).map_err(|e| e.to_string())?;
    let stream = TlsConnector::from(cfg)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("{authority}: TLS: {e}"))?;
    handshake(TokioIo::new(stream)).await
}

async fn handshake<T>(io: T) -> Result<SendRequest<Full<Bytes>>, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

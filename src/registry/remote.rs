//! A registry published at an `https://` URL: fetched at start (and by every reload)
//! and polled with `If-None-Match`, so an unchanged export costs a 304. Errors name
//! the URL. The format follows the URL's extension (`.csv`, `.json`) or the response's
//! content type.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;

use crate::http_client::{self, Url};

const TIMEOUT: Duration = Duration::from_secs(30);
/// Largest registry export accepted (a million devices is about 300 MB of CSV).
const MAX_BYTES: usize = 1 << 30;

/// A fetched export.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub text: String,
    pub etag: Option<String>,
    /// `devices.csv` or `devices.json`: what the text is, for the parser.
    pub name: &'static str,
}

impl Fetched {
    /// SHA-256 of the export, to notice a change when the server sends no `ETag`.
    pub fn digest(&self) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(self.text.as_bytes()).into()
    }
}

/// GETs the registry; `Ok(None)` when the server answers 304 to `etag`.
pub async fn fetch(
    url: &str,
    tls: Option<&Arc<rustls::ClientConfig>>,
    etag: Option<&str>,
) -> Result<Option<Fetched>, String> {
    let parsed = Url::parse(url)?;
    let mut sender = http_client::connect(&parsed, tls)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let mut req = hyper::Request::get(parsed.path.as_str())
        .header("host", parsed.authority())
        .header("user-agent", concat!("slagboom/", env!("CARGO_PKG_VERSION")))
        .header("accept", "text/csv, application/json");
    if let Some(tag) = etag {
        req = req.header("if-none-match", tag);
    }
    let req = req.body(Full::new(Bytes::new())).map_err(|e| e.to_string())?;
    let exchange = async {
        let resp = sender.send_request(req).await.map_err(|e| format!("{url}: {e}"))?;
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let etag = header("etag");
        let content_type = header("content-type").unwrap_or_default();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{url}: {e}"))?
            .to_bytes();
        Ok::<_, String>((status, etag, content_type, body))
    };
    let (status, new_etag, content_type, body) = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| format!("{url}: timed out"))??;
    match status {
        304 => Ok(None),
        200 => {
            if body.len() > MAX_BYTES {
                return Err(format!("{url}: export larger than {MAX_BYTES} bytes"));
            }
            let text = String::from_utf8(body.to_vec()).map_err(|_| format!("{url}: not UTF-8"))?;
            let path = parsed.path.split('?').next().unwrap_or("");
            let json = path.ends_with(".json")
                || (!path.ends_with(".csv") && (content_type.contains("json") || text.trim_start().starts_with('[')));
            Ok(Some(Fetched {
                text,
                etag: new_etag,
                name: if json { "devices.json" } else { "devices.csv" },
            }))
        }
        other => Err(format!("{url}: HTTP {other}")),
    }
}

/// `fetch` from synchronous code (start-up, `check`, a reload): runs on a thread of its
/// own with a small runtime, so it works inside and outside the proxy's runtime.
pub fn fetch_blocking(url: &str, ca_file: Option<&Path>) -> Result<Fetched, String> {
    let tls = crate::tls::client::config(ca_file, None)?;
    std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(fetch(url, Some(&tls), None))?
                .ok_or_else(|| format!("{url}: unexpected 304"))
        })
        .join()
        .unwrap_or_else(|_| Err(format!("{url}: fetch failed")))
    })
}

//! HTTP sinks: Splunk HEC (`splunk-hec`) and Elasticsearch `_bulk` (`elastic-bulk`),
//! batched by `batch_events`, `batch_bytes` and `batch_timeout`. 5xx and 429 are
//! retried with backoff; any other 4xx marks the refused events as poison (isolated by
//! sending the batch one event at a time), which the runner dead-letters.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;

use super::SendError;
use crate::config::{Flavour, Secret};
use crate::events::{ecs, Record};
use crate::http_client as client;
pub use crate::http_client::Url;

/// An HTTP sink's transport.
#[derive(Debug)]
pub struct Http {
    flavour: Flavour,
    url: Url,
    token: Option<Secret>,
    index: String,
    tls: Option<Arc<rustls::ClientConfig>>,
    batch_events: usize,
    batch_bytes: usize,
    batch_timeout: Duration,
    /// A request not answered within this (`[log] sink_stall_timeout`) is given up and
    /// sent again on a new connection: a collector that accepts and never reads, or
    /// never answers, holds nothing up for longer.
    stall: Duration,
    conn: Option<SendRequest<Full<Bytes>>>,
}

impl Http {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        flavour: Flavour,
        url: Url,
        token: Option<Secret>,
        index: String,
        tls: Option<Arc<rustls::ClientConfig>>,
        batch: (usize, usize, Duration),
        stall: Duration,
    ) -> Http {
        Http {
            flavour,
            url,
            token,
            index,
            tls,
            batch_events: batch.0,
            batch_bytes: batch.1,
            batch_timeout: batch.2,
            stall,
            conn: None,
        }
    }

    pub fn batch(&self) -> (usize, usize, Duration) {
        (self.batch_events, self.batch_bytes, self.batch_timeout)
    }

    /// The request body for `records`.
    pub fn body(&self, records: &[&Record]) -> Vec<u8> {
        let mut out = Vec::with_capacity(records.iter().map(|r| r.ecs.len() + 160).sum());
        for r in records {
            match self.flavour {
                Flavour::SplunkHec => {
                    let ms = r.timestamp_ms();
                    out.extend_from_slice(b"{\"time\":");
                    out.extend_from_slice(itoa::Buffer::new().format(ms / 1000).as_bytes());
                    out.extend_from_slice(format!(".{:03}", ms % 1000).as_bytes());
                    out.extend_from_slice(b",\"host\":");
                    ecs::escape_str(&mut out, &r.observer);
                    out.extend_from_slice(b",\"source\":\"slagboom\",\"sourcetype\":\"slagboom:ecs\",\"event\":");
                    out.extend_from_slice(&r.ecs);
                    out.extend_from_slice(b"}\n");
                }
                Flavour::ElasticBulk => {
                    out.extend_from_slice(b"{\"create\":{\"_index\":");
                    ecs::escape_str(&mut out, &self.index);
                    out.extend_from_slice(b"}}\n");
                    out.extend_from_slice(&r.ecs);
                    out.push(b'\n');
                }
            }
        }
        out
    }

    fn path(&self) -> String {
        match self.flavour {
            Flavour::SplunkHec => self.url.path.clone(),
            Flavour::ElasticBulk => format!("{}/_bulk", self.url.path.trim_end_matches('/')),
        }
    }

    pub async fn send(&mut self, events: &[Record]) -> Result<(), SendError> {
        let all: Vec<&Record> = events.iter().collect();
        match self.post(&all).await? {
            Reply::Ok => Ok(()),
            Reply::Refused(status) if events.len() == 1 => Err(SendError::Poison(vec![0], format!("HTTP {status}"))),
            Reply::Refused(_) => {
                // Find the refused events: one at a time.
                let mut bad = Vec::new();
                let mut why = String::new();
                for (i, e) in events.iter().enumerate() {
                    if let Reply::Refused(status) = self.post(&[e]).await? {
                        bad.push(i);
                        why = format!("HTTP {status}");
                    }
                }
                if bad.is_empty() {
                    Ok(())
                } else {
                    Err(SendError::Poison(bad, why))
                }
            }
            Reply::Items(bad, retry) if retry.is_empty() => {
                if bad.is_empty() {
                    Ok(())
                } else {
                    Err(SendError::Poison(bad, "refused by _bulk".into()))
                }
            }
            Reply::Items(bad, retry) => {
                let again: Vec<&Record> = retry.iter().filter_map(|&i| events.get(i)).collect();
                match self.post(&again).await? {
                    Reply::Ok => {}
                    Reply::Items(_, r) if r.is_empty() => {}
                    _ => return Err(SendError::Retry("_bulk items still failing".into())),
                }
                if bad.is_empty() {
                    Ok(())
                } else {
                    Err(SendError::Poison(bad, "refused by _bulk".into()))
                }
            }
        }
    }

    async fn post(&mut self, events: &[&Record]) -> Result<Reply, SendError> {
        let body = self.body(events);
        let mut req = hyper::Request::post(self.path())
            .header("host", self.url.authority())
            .header("user-agent", concat!("slagboom/", env!("CARGO_PKG_VERSION")));
        req = match self.flavour {
            Flavour::SplunkHec => req.header("content-type", "application/json"),
            Flavour::ElasticBulk => req.header("content-type", "application/x-ndjson"),
        };
        if let Some(token) = &self.token {
            let scheme = match self.flavour {
                Flavour::SplunkHec => "Splunk",
                Flavour::ElasticBulk => "ApiKey",
            };
            let value = format!("{scheme} {}", String::from_utf8_lossy(&token.0));
            req = req.header("authorization", value);
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| SendError::Retry(format!("request: {e}")))?;
        let mut sender = match self.conn.take() {
            Some(s) => s,
            None => client::connect(&self.url, self.tls.as_ref())
                .await
                .map_err(SendError::Retry)?,
        };
        if sender.ready().await.is_err() {
            sender = client::connect(&self.url, self.tls.as_ref())
                .await
                .map_err(SendError::Retry)?;
        }
        let exchange = async {
            let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
            let status = resp.status().as_u16();
            let body = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
            Ok::<_, String>((status, body))
        };
        let (status, body) = match tokio::time::timeout(self.stall, exchange).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Err(SendError::Retry(format!("{}: {e}", self.url.authority()))),
            Err(_) => return Err(SendError::Retry(format!("{}: timed out", self.url.authority()))),
        };
        self.conn = Some(sender);
        match status {
            200..=299 if self.flavour == Flavour::ElasticBulk => Ok(bulk_items(&body)),
            200..=299 => Ok(Reply::Ok),
            429 | 500..=599 => Err(SendError::Retry(format!("{}: HTTP {status}", self.url.authority()))),
            _ => Ok(Reply::Refused(status)),
        }
    }
}

enum Reply {
    Ok,
    /// A 4xx other than 429.
    Refused(u16),
    /// `_bulk` per-item results: (refused, to retry).
    Items(Vec<usize>, Vec<usize>),
}

/// Reads a `_bulk` response: items with 429 or 5xx are retried, other 4xx refused.
fn bulk_items(body: &[u8]) -> Reply {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Reply::Ok;
    };
    if v["errors"] != serde_json::Value::Bool(true) {
        return Reply::Ok;
    }
    let mut bad = Vec::new();
    let mut retry = Vec::new();
    if let Some(items) = v["items"].as_array() {
        for (i, item) in items.iter().enumerate() {
            let status = item
                .as_object()
                .and_then(|o| o.values().next())
                .and_then(|r| r["status"].as_u64())
                .unwrap_or(200);
            match status {
                200..=299 => {}
                429 | 500..=599 => retry.push(i),
                _ => bad.push(i),
            }
        }
    }
    Reply::Items(bad, retry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("https://siem.example:8088/services/collector/event").unwrap();
        assert_eq!(
            (u.https, u.host.as_str(), u.port, u.path.as_str()),
            (true, "siem.example", 8088, "/services/collector/event")
        );
        let u = Url::parse("http://127.0.0.1:9200").unwrap();
        assert_eq!((u.port, u.path.as_str()), (9200, "/"));
        assert!(Url::parse("ftp://x").is_err());
        assert!(Url::parse("https://bad host/").is_err());
    }

    #[test]
    fn bulk_item_statuses() {
        let body = br#"{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":400}},{"create":{"status":429}},{"create":{"status":503}}]}"#;
        match bulk_items(body) {
            Reply::Items(bad, retry) => assert_eq!((bad, retry), (vec![1], vec![2, 3])),
            _ => panic!("items expected"),
        }
        assert!(matches!(bulk_items(br#"{"errors":false,"items":[]}"#), Reply::Ok));
    }
}

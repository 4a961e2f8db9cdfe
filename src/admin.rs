//! The admin endpoint on `[admin] listen`: `/proxy.pac` and `/wpad.dat`, `/healthz`,
//! `/readyz`, `/metrics` and `POST /reload` (bearer token from `reload_token_file`,
//! compared in constant time), and the helpdesk page under `/helpdesk` (see
//! [`crate::helpdesk`]).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::auth::AuthLimiter;
use crate::events::EventLog;
use crate::metrics::Metrics;
use crate::proxy::Phase;
use crate::reload::{Reloader, Trigger};
use crate::state::State;

/// What the admin endpoint serves from.
#[derive(Debug)]
pub struct Admin {
    pub state: Arc<State>,
    pub metrics: Arc<Metrics>,
    pub events: EventLog,
    pub reloader: Arc<Reloader>,
    pub phase: watch::Receiver<Phase>,
    /// Failed helpdesk logins per source address.
    pub helpdesk_logins: AuthLimiter,
}

/// Binds the admin listener.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

impl Admin {
    /// Serves until the process stops.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            };
            let me = self.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let me = me.clone();
                    async move { Ok::<_, Infallible>(me.handle(req, peer.ip()).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }

    async fn handle(&self, req: Request<Incoming>, peer: std::net::IpAddr) -> Response<Full<Bytes>> {
        let path = req.uri().path();
        if path == "/helpdesk" || path.starts_with("/helpdesk/") {
            return self.helpdesk(&req, peer);
        }
        match (req.method(), path) {
            (&Method::GET | &Method::HEAD, "/proxy.pac" | "/wpad.dat") => {
                let pac = crate::pac::render(&self.state.load().config.pac);
                let mut r = text(StatusCode::OK, pac);
                let h = r.headers_mut();
                h.insert(
                    "content-type",
                    hyper::header::HeaderValue::from_static("application/x-ns-proxy-autoconfig"),
                );
                // Short enough that a change reaches browsers within minutes.
                h.insert(
                    "cache-control",
                    hyper::header::HeaderValue::from_static("public, max-age=300"),
                );
                r
            }
            (&Method::GET | &Method::HEAD, "/healthz") => text(StatusCode::OK, "ok\n".into()),
            (&Method::GET | &Method::HEAD, "/readyz") => {
                if *self.phase.borrow() == Phase::Running {
                    let version = self.state.load().policy_version.clone();
                    text(StatusCode::OK, format!("ready\npolicy_version {version}\n"))
                } else {
                    text(StatusCode::SERVICE_UNAVAILABLE, "draining\n".into())
                }
            }
            (&Method::GET | &Method::HEAD, "/metrics") => {
                self.events.refresh_metrics();
                let mut r = text(StatusCode::OK, self.metrics.encode());
                r.headers_mut().insert(
                    "content-type",
                    hyper::header::HeaderValue::from_static(
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    ),
                );
                r
            }
            (&Method::POST, "/reload") => self.reload(&req).await,
            (_, "/proxy.pac" | "/wpad.dat" | "/healthz" | "/readyz" | "/metrics" | "/reload") => {
                text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n".into())
            }
            _ => text(StatusCode::NOT_FOUND, "not found\n".into()),
        }
    }

    fn helpdesk(&self, req: &Request<Incoming>, peer: std::net::IpAddr) -> Response<Full<Bytes>> {
        let ask = crate::helpdesk::Ask {
            method: req.method(),
            uri: req.uri(),
            headers: req.headers(),
            peer,
        };
        let reply = crate::helpdesk::handle(&self.state.load(), &self.events, &self.helpdesk_logins, &ask);
        let mut r = text(reply.status, reply.body);
        let h = r.headers_mut();
        h.insert(
            "content-type",
            hyper::header::HeaderValue::from_static(reply.content_type),
        );
        h.insert(
            "content-security-policy",
            hyper::header::HeaderValue::from_static(crate::helpdesk::page::CSP),
        );
        h.insert(
            "x-content-type-options",
            hyper::header::HeaderValue::from_static("nosniff"),
        );
        h.insert(
            "referrer-policy",
            hyper::header::HeaderValue::from_static("no-referrer"),
        );
        if reply.challenge {
            h.insert(
                "www-authenticate",
                hyper::header::HeaderValue::from_static("Basic realm=\"slagboom helpdesk\", charset=\"UTF-8\""),
            );
        }
        r
    }

    async fn reload(&self, req: &Request<Incoming>) -> Response<Full<Bytes>> {
        let token = match &self.state.load().config.admin.reload_token_file {
            // Read on each request, so a rotated token applies at once.
            Some(path) => crate::config::read_secret(path).ok(),
            None => None,
        };
        let Some(token) = token else {
            return text(
                StatusCode::FORBIDDEN,
                "POST /reload is disabled: set [admin] reload_token_file\n".into(),
            );
        };
        let given = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or("");
        if !bool::from(given.as_bytes().ct_eq(&token.0)) {
            let mut r = text(StatusCode::UNAUTHORIZED, "a valid bearer token is required\n".into());
            r.headers_mut().insert(
                "www-authenticate",
                hyper::header::HeaderValue::from_static("Bearer realm=\"slagboom\""),
            );
            return r;
        }
        let reloader = self.reloader.clone();
        match tokio::task::spawn_blocking(move || reloader.reload(Trigger::Admin)).await {
            Ok(Ok(snap)) => {
                self.events.reopen();
                let body = serde_json::json!({
                    "reloaded": true,
                    "devices": snap.registry.len(),
                    "rulesets": snap.rules.rulesets().len(),
                    "policies": snap.policies.len(),
                });
                json(StatusCode::OK, body.to_string())
            }
            Ok(Err(e)) => json(
                StatusCode::UNPROCESSABLE_ENTITY,
                serde_json::json!({"reloaded": false, "error": e.to_string()}).to_string(),
            ),
            Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "reload failed\n".into()),
        }
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut()
        .insert("cache-control", hyper::header::HeaderValue::from_static("no-store"));
    r
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = text(status, body);
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

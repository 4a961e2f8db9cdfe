//! The explicit proxy's front door: a request head, its target (CONNECT `host:port`
//! or an absolute-form `http://` URI whose `Host` agrees), who is asking
//! (`Proxy-Authorization`, then the source address), then the CONNECT story
//! (`tunnel`) or the plain-HTTP one (`forward`), and for keep-alive the next head.
//!
//! ```text
//! read head -> target -> who -> CONNECT: tunnel::run (port, verdict, resolve, 200,
//!                                          ClientHello, verdict, dial, relay, finish)
//!                            -> http://:  forward::run (verdict, resolve, dial,
//!                                          exchange, finish)
//! ```
//! The snapshot is loaded once, at accept, and serves the whole connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::TcpStream;

use sha2::{Digest, Sha256};

use super::client::Client;
use super::conn::{device_ref, Ctx, Io, Target, Who};
use super::finish::{finish, refusal};
use super::head::{self, HeadError, RequestHead};
use super::inbound::Inbound;
use super::{forward, tunnel, Shared};
use crate::auth::{self, AuthFailure, Credentials, Identity};
use crate::events::{Action, CoverageLabel, IdentityLabel, Listener, Reason};
use crate::host::Host;
use crate::metrics::MethodLabel;
use crate::policy::Subject;
use crate::registry::Status;

/// Serves one accepted connection until it closes.
pub async fn serve(shared: Arc<Shared>, client: TcpStream, peer: SocketAddr) {
    let snap = shared.state.load();
    let ctx = Ctx {
        shared,
        snap,
        peer,
        listener: Listener::Explicit,
        client_cert: None,
    };
    serve_on(ctx, Client::Plain(client)).await;
}

/// The HTTPS proxy port (SPEC §7): the TLS handshake (within `client_hello_timeout`),
/// the client certificate if one was sent, then the explicit protocol inside TLS. A
/// certificate that does not chain or has expired fails the handshake with an alert
/// and an `auth_failed` event (`credentials_invalid`, `labels.identity = "client-cert"`).
pub async fn serve_tls(shared: Arc<Shared>, client: TcpStream, peer: SocketAddr) {
    let snap = shared.state.load();
    let mut ctx = Ctx {
        shared,
        snap,
        peer,
        listener: Listener::Tls,
        client_cert: None,
    };
    let Some(config) = ctx.snap.tls_listen.clone() else {
        return;
    };
    let wait = ctx.snap.config.proxy.limits.client_hello_timeout;
    let accepted = tokio::time::timeout(wait, tokio_rustls::TlsAcceptor::from(config).accept(client)).await;
    let stream = match accepted {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return handshake_failed(&ctx, &e).await,
        Err(_) => {
            let mut event = ctx.event(Action::Error, None, None);
            event.reason = Some(Reason::ClientHelloTimeout);
            event.action = Reason::ClientHelloTimeout.action();
            ctx.record(event).await;
            return;
        }
    };
    ctx.client_cert = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|leaf| Sha256::digest(leaf).into());
    serve_on(ctx, Client::Tls(Box::new(stream))).await;
}

/// A failed handshake on the HTTPS proxy port: the alert is sent; the event says why.
/// A client that closes before finishing it (a TCP health check, a scanner) leaves no
/// event, as a plain connection closed before its request head does not.
async fn handshake_failed(ctx: &Ctx, e: &std::io::Error) {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        return;
    }
    let reason = if crate::tls::server::is_certificate_error(e) {
        Reason::CredentialsInvalid
    } else {
        Reason::ClientHelloInvalid
    };
    tracing::debug!(peer = %ctx.peer, error = %e, "TLS handshake failed");
    let mut event = ctx.event(reason.action(), None, None);
    event.reason = Some(reason);
    if reason == Reason::CredentialsInvalid {
        event.identity = Some(IdentityLabel::ClientCert);
        ctx.shared
            .metrics
            .auth_failures
            .get_or_create(&MethodLabel { method: "client-cert" })
            .inc();
    }
    ctx.record(event).await;
}

/// The explicit protocol on `client`, request after request.
async fn serve_on(ctx: Ctx, client: Client) {
    let mut io = Io {
        client,
        inbound: Inbound::new(),
        upstream: None,
    };
    let mut phase = ctx.shared.phase.clone();
    let limits = &ctx.snap.config.proxy.limits;
    loop {
        let Some(head) = io.next_head(limits, &mut phase).await else {
            return;
        };
        let head = match head {
            Ok(h) => h,
            Err(HeadError::Closed) => return,
            Err(HeadError::Refuse(reason)) => {
                let event = ctx.event(reason.action(), None, None);
                finish(&ctx, &mut io.client, event, refusal(reason, None, false)).await;
                return;
            }
        };
        let started = Instant::now();
        let connect = head.method() == "CONNECT";
        let target = match parse_target(&head, connect) {
            Ok(t) => t,
            Err(reason) => {
                let mut event = ctx.event(reason.action(), None, None);
                event.http = !connect;
                event.method = Some(head.method().to_owned());
                finish(&ctx, &mut io.client, event, refusal(reason, Some(&head), false)).await;
                return;
            }
        };
        let who = match identify(&ctx, &mut io, &head, &target).await {
            Ok(who) => who,
            Err(true) => continue,
            Err(false) => return,
        };
        if connect {
            tunnel::run(&ctx, &mut io, &target, who, started).await;
            return;
        }
        if !forward::run(&ctx, &mut io, &head, &target, who, started).await {
            return;
        }
    }
}

/// The target of a CONNECT (`host:port`) or of an absolute-form `http://` request,
/// whose `Host` header must agree with it.
pub(super) fn parse_target(head: &RequestHead, connect: bool) -> Result<Target, Reason> {
    if connect {
        let (host, port) = Host::parse_authority(head.target()).map_err(|_| Reason::BadRequest)?;
        let port = port.ok_or(Reason::BadRequest)?;
        return Ok(Target {
            host,
            port,
            path: None,
            original: None,
        });
    }
    let t = head.target();
    let rest = match t.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("http://") => &t[7..],
        _ => return Err(Reason::BadRequest),
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.contains('@') || rest.contains('#') {
        return Err(Reason::BadRequest);
    }
    let (host, port) = Host::parse_authority(authority).map_err(|_| Reason::BadRequest)?;
    let port = port.unwrap_or(80);
    let path = match &rest[end..] {
        "" => "/".to_owned(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_owned(),
    };
    let mut hosts = head.all("host");
    let (Some(value), None) = (hosts.next(), hosts.next()) else {
        return Err(Reason::BadRequest);
    };
    let value = std::str::from_utf8(value).map_err(|_| Reason::BadRequest)?;
    let (h, p) = Host::parse_authority(value.trim()).map_err(|_| Reason::BadRequest)?;
    if h != host || p.unwrap_or(80) != port {
        return Err(Reason::BadRequest);
    }
    Ok(Target {
        host,
        port,
        path: Some(path),
        original: None,
    })
}

/// Identifies the client. On failure the refusal is sent and the result says whether
/// the connection stays open for another try.
async fn identify<'s>(ctx: &'s Ctx, io: &mut Io, head: &RequestHead, target: &Target) -> Result<Who<'s>, bool> {
    let mut credentials = head.all("proxy-authorization");
    let (proxy_authorization, doubled) = (credentials.next(), credentials.next().is_some());
    let creds = Credentials {
        proxy_authorization,
        client_cert_sha256: ctx.client_cert,
        source: ctx.peer.ip(),
        bound: ctx.bound(),
    };
    let now = std::time::Instant::now();
    let limiter = &ctx.shared.limiter;
    let http = head.method() != "CONNECT";
    let mut event = ctx.event(Action::AuthFailed, Some(target), None);
    event.http = http;
    event.method = Some(head.method().to_owned());
    if doubled {
        // SPEC §6: never "the first one wins"; the values are not looked at.
        return Err(finish(
            ctx,
            &mut io.client,
            event,
            refusal(Reason::BadRequest, Some(head), false),
        )
        .await);
    }
    if creds.proxy_authorization.is_some() && limiter.is_limited(ctx.peer.ip(), now) {
        return Err(finish(
            ctx,
            &mut io.client,
            event,
            refusal(Reason::RateLimited, Some(head), false),
        )
        .await);
    }
    let failure = match auth::identify(&ctx.snap, &creds) {
        Ok(Identity::Device { device, method }) => {
            return Ok(Who {
                subject: Subject::Device(ctx.snap.registry.device(device)),
                identity: method.label(),
            })
        }
        Ok(Identity::Unknown(mode)) => {
            return Ok(Who {
                subject: Subject::Unknown(mode),
                identity: IdentityLabel::None,
            })
        }
        Err(f) => f,
    };
    let no_body = matches!(head.framing(), Ok(head::Framing::None));
    let method = match failure {
        AuthFailure::Invalid(m) => {
            event.identity = Some(m.label());
            m.as_str()
        }
        _ => "none",
    };
    ctx.shared
        .metrics
        .auth_failures
        .get_or_create(&MethodLabel { method })
        .inc();
    let reason = match failure {
        AuthFailure::Missing => Reason::CredentialsMissing,
        AuthFailure::Invalid(_) => {
            limiter.record_failure(ctx.peer.ip(), now);
            Reason::CredentialsInvalid
        }
        AuthFailure::Inactive { device, status } => {
            let d = ctx.snap.registry.device(device);
            event.device = Some(device_ref(d));
            event.coverage = CoverageLabel::Known(d.coverage());
            let reason = if status == Status::Lost {
                Reason::DeviceLost
            } else {
                Reason::DeviceRetired
            };
            return Err(finish(ctx, &mut io.client, event, refusal(reason, Some(head), false)).await);
        }
    };
    // RFC 9112 §9.6: a client that asked to close is not kept waiting for another try.
    let keep = no_body && head.version == 1 && !head.connection_has("close");
    Err(finish(ctx, &mut io.client, event, refusal(reason, Some(head), keep)).await)
}

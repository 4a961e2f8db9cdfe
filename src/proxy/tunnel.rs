//! CONNECT: port and address checks, the decision on the CONNECT host, the 200, the
//! ClientHello (read whole, however fragmented) and a second decision on its SNI before
//! any upstream connection, then the relay. After the 200 a refusal is a TLS alert.

use std::net::SocketAddr;
use std::time::Instant;

use tokio::io::AsyncWriteExt;

use super::flow::{Ctx, Io, Target, Who};
use super::upstream;
use crate::events::{Action, Event, Reason};
use crate::host::Host;
use crate::policy;
use crate::registry::Coverage;
use crate::tls::client_hello::{self, Alert, Parsed};

const ESTABLISHED: &[u8] = b"HTTP/1.1 200 Connection established\r\n\r\n";

/// What the first bytes after the 200 said.
enum Hello {
    /// A ClientHello (SNI, ECH).
    Tls { sni: Option<String>, ech: bool },
    /// Not TLS, let through by `allow_non_tls_tunnels`.
    Opaque,
    /// The client closed without sending anything.
    Closed,
}

pub(super) async fn run(ctx: &Ctx, io: &mut Io, target: &Target, who: Who<'_>, started: Instant) {
    let cfg = &ctx.snap.config.proxy;
    let now = time::OffsetDateTime::now_utc();
    let mut event = ctx.event(Action::Allowed, Some(target), Some(&who));
    if !cfg.connect_ports.contains(&target.port) {
        ctx.refuse(io, event, Reason::PortNotAllowed, None).await;
        return;
    }
    if let Some(ip) = target.host.ip() {
        if upstream::prohibited(cfg, &ctx.shared.listeners, SocketAddr::new(ip, target.port)) {
            ctx.refuse(io, event, Reason::DestinationProhibited, None).await;
            return;
        }
    }
    let subject = who.subject();
    let connect_decision = ctx.snap.decide(&subject, &target.host, now);
    if connect_decision.action == policy::Action::Block {
        ctx.apply(&mut event, &connect_decision);
        ctx.refuse(io, event, Reason::Policy, None).await;
        return;
    }
    // The name is resolved and every address checked before the 200, so a refused
    // address or a failed lookup is still an HTTP answer. These are the addresses
    // dialled later: no second resolution.
    let addrs = match ctx.resolve(&subject, target, now).await {
        Ok(addrs) => addrs,
        Err(e) => {
            let reason = ctx.upstream_failed(&mut event, e);
            event.duration = Some(started.elapsed());
            ctx.refuse(io, event, reason, None).await;
            return;
        }
    };
    if io.client.write_all(ESTABLISHED).await.is_err() {
        return;
    }

    // After the 200: every refusal is an event plus (once a ClientHello was read) an alert.
    let hello = match read_hello(ctx, io).await {
        Ok(h) => h,
        Err((reason, alert)) => return fail(ctx, io, event, reason, alert, started).await,
    };
    let mut decision = connect_decision;
    let mut hello_read = false;
    match &hello {
        Hello::Tls { sni, ech } => {
            hello_read = true;
            event.ech = *ech;
            if let Some(sni) = sni {
                let Ok(sni_host) = Host::parse(sni) else {
                    event.server_name = Some(sni.clone());
                    return fail(
                        ctx,
                        io,
                        event,
                        Reason::ClientHelloInvalid,
                        Some(Alert::DecodeError),
                        started,
                    )
                    .await;
                };
                event.server_name = Some(sni_host.as_str().to_owned());
                let sni_decision = ctx.snap.decide(&subject, &sni_host, now);
                if sni_decision.action == policy::Action::Block {
                    ctx.apply(&mut event, &sni_decision);
                    let fronting = sni_host != target.host && target.host.name().is_some();
                    let reason = if fronting {
                        Reason::DomainFronting
                    } else {
                        Reason::Policy
                    };
                    return fail(ctx, io, event, reason, Some(Alert::AccessDenied), started).await;
                }
                if sni_decision.action > decision.action {
                    decision = sni_decision;
                }
            }
        }
        Hello::Opaque | Hello::Closed => {}
    }
    let no_sni = !matches!(&hello, Hello::Tls { sni: Some(_), .. });
    if no_sni
        && cfg.require_sni_for_covered
        && subject.coverage() == Coverage::Covered
        && !matches!(hello, Hello::Closed)
    {
        let alert = hello_read.then_some(Alert::AccessDenied);
        return fail(ctx, io, event, Reason::SniRequired, alert, started).await;
    }
    ctx.apply(&mut event, &decision);
    if matches!(hello, Hello::Closed) {
        event.duration = Some(started.elapsed());
        event.source_bytes = Some(0);
        event.destination_bytes = Some(0);
        ctx.record(event).await;
        return;
    }

    let (mut upstream, addr) = match upstream::dial(&addrs, cfg.limits.connect_timeout).await {
        Ok(c) => c,
        Err(e) => {
            let reason = ctx.upstream_failed(&mut event, e);
            return fail(
                ctx,
                io,
                event,
                reason,
                hello_read.then_some(Alert::InternalError),
                started,
            )
            .await;
        }
    };
    event.destination_ip = Some(addr.ip());
    if ctx.snap.config.log.tunnel_open_events {
        let mut open = event.clone();
        open.id = crate::events::new_id();
        ctx.record(open).await;
    }
    let replay = io.inbound.take_all();
    let replayed = replay.len() as u64;
    if upstream.write_all(&replay).await.is_err() {
        event.duration = Some(started.elapsed());
        return fail(
            ctx,
            io,
            event,
            Reason::UpstreamConnectFailed,
            hello_read.then_some(Alert::InternalError),
            started,
        )
        .await;
    }
    let idle = ctx.snap.config.proxy.limits.idle_timeout;
    ctx.shared.metrics.active_tunnels.inc();
    let (up, down) = super::relay::relay(&mut io.client, &mut upstream, idle, ctx.shared.phase.clone()).await;
    ctx.shared.metrics.active_tunnels.dec();
    event.duration = Some(started.elapsed());
    event.source_bytes = Some(replayed + up);
    event.destination_bytes = Some(down);
    ctx.record(event).await;
}

/// A refusal or failure after the 200: event first, then the alert (if a ClientHello
/// was read), then close.
async fn fail(ctx: &Ctx, io: &mut Io, mut event: Event, reason: Reason, alert: Option<Alert>, started: Instant) {
    event.reason = Some(reason);
    event.action = reason.action();
    event.duration = Some(started.elapsed());
    ctx.record(event).await;
    if let Some(alert) = alert {
        let _ = io.client.write_all(&client_hello::alert_record(alert)).await;
    }
    let _ = io.client.shutdown().await;
}

/// Reads until a whole ClientHello is buffered (or the bytes are not TLS). A failure
/// carries the alert due (SPEC §6): none before a handshake record header was read,
/// `decode_error` for a malformed hello, `internal_error` for one too large or too slow.
async fn read_hello(ctx: &Ctx, io: &mut Io) -> Result<Hello, (Reason, Option<Alert>)> {
    let limits = &ctx.snap.config.proxy.limits;
    let deadline = tokio::time::Instant::now() + limits.client_hello_timeout;
    let failed = |io: &Io, reason, alert| {
        let tls = client_hello::record_header_read(io.inbound.data());
        Err((reason, tls.then_some(alert)))
    };
    loop {
        if !io.inbound.is_empty() {
            match client_hello::parse(io.inbound.data(), limits.client_hello_bytes) {
                Ok(Parsed::Done(h)) => {
                    return Ok(Hello::Tls {
                        sni: h.server_name,
                        ech: h.ech,
                    })
                }
                Ok(Parsed::NeedMore) => {}
                Err(client_hello::Error::NotTls) if ctx.snap.config.proxy.allow_non_tls_tunnels => {
                    return Ok(Hello::Opaque)
                }
                Err(client_hello::Error::NotTls) => return Err((Reason::NotTls, None)),
                Err(client_hello::Error::Invalid(_)) => {
                    return failed(io, Reason::ClientHelloInvalid, Alert::DecodeError)
                }
                Err(client_hello::Error::TooLarge) => {
                    return failed(io, Reason::ClientHelloInvalid, Alert::InternalError)
                }
            }
        }
        match tokio::time::timeout_at(deadline, io.inbound.fill(&mut io.client)).await {
            Err(_) => return failed(io, Reason::ClientHelloTimeout, Alert::InternalError),
            Ok(Ok(0)) | Ok(Err(_)) if io.inbound.is_empty() => return Ok(Hello::Closed),
            Ok(Ok(0)) | Ok(Err(_)) => return failed(io, Reason::ClientHelloInvalid, Alert::DecodeError),
            Ok(Ok(_)) => {}
        }
    }
}

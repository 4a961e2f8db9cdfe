//! CONNECT: port and address checks, the verdict on the CONNECT host, the name
//! resolved and every address checked, the 200, the ClientHello (read whole, however
//! fragmented) and the verdict on its SNI before any upstream connection, then the
//! relay. After the 200 a refusal is a TLS alert.

use std::net::SocketAddr;
use std::time::Instant;

use time::OffsetDateTime;
use tokio::io::AsyncWriteExt;

use super::conn::{Ctx, Io, Target, Who};
use super::finish::{finish, refusal};
use super::hello::{self, Hello};
use super::intercept::{self, Page};
use super::upstream;
use super::verdict::{Known, Verdict};
use crate::events::{Action, Event, Reason};
use crate::policy;
use crate::respond::{self, Answer};
use crate::tls::client_hello::Alert;
use crate::tls::hello_watch::{HelloWatch, Watched};

pub(super) async fn run(ctx: &Ctx, io: &mut Io, target: &Target, who: Who<'_>, started: Instant) {
    let cfg = &ctx.snap.config.proxy;
    let now = OffsetDateTime::now_utc();
    let mut event = ctx.event(Action::Allowed, Some(target), Some(&who));
    let literal_refused = target
        .host
        .ip()
        .is_some_and(|ip| upstream::prohibited(cfg, &ctx.shared.listeners, SocketAddr::new(ip, target.port)));
    let early = if !cfg.connect_ports.contains(&target.port) {
        Some(Reason::PortNotAllowed)
    } else if literal_refused {
        Some(Reason::DestinationProhibited)
    } else {
        None
    };
    if let Some(reason) = early {
        finish(ctx, &mut io.client, event, refusal(reason, None, false)).await;
        return;
    }
    let subject = who.subject();
    let mut known = Known {
        requested: Some(&target.host),
        ..Known::default()
    };
    // A blocked CONNECT host whose name the block-page CA covers is answered with the
    // block page over TLS (SPEC §7): 200, ClientHello, then the page. It is never
    // resolved or connected to.
    let mut intercepting = false;
    if let Verdict::Refuse(d, reason) = ctx.verdict(&subject, &known, now) {
        ctx.apply(&mut event, &d);
        if reason != Reason::Policy || intercept::name_for(ctx, None, Some(&target.host)).is_none() {
            finish(ctx, &mut io.client, event, refusal(reason, None, false)).await;
            return;
        }
        event.reason = Some(reason);
        intercepting = true;
    }
    // The name is resolved and every address checked before the 200, so a refused
    // address or a failed lookup is still an HTTP answer. These are the addresses
    // dialled later: no second resolution.
    let addrs = match intercepting {
        true => Vec::new(),
        false => match ctx.resolve(&subject, target, now).await {
            Ok(addrs) => addrs,
            Err(e) => {
                let reason = ctx.upstream_failed(&mut event, e);
                event.duration = Some(started.elapsed());
                finish(ctx, &mut io.client, event, refusal(reason, None, false)).await;
                return;
            }
        },
    };
    if io.client.write_all(respond::ESTABLISHED).await.is_err() || io.client.flush().await.is_err() {
        return;
    }

    // After the 200: every refusal is an event plus (once a ClientHello was read) an alert.
    let read = hello::read(&mut io.inbound, &mut io.client, &cfg.limits, cfg.allow_non_tls_tunnels).await;
    let hello = match read {
        Ok(h) => h,
        // A blocked host stays a policy refusal, however the client goes on.
        Err((_, alert)) if intercepting => {
            let alert = alert.map(|_| Alert::AccessDenied);
            return fail(ctx, io, event, Reason::Policy, alert, started).await;
        }
        Err((reason, alert)) => return fail(ctx, io, event, reason, alert, started).await,
    };
    let hello_read = matches!(hello, Hello::Tls { .. });
    let Ok(sni_host) = hello::server_name(&hello, &mut event) else {
        let alert = Some(Alert::DecodeError);
        return fail(ctx, io, event, Reason::ClientHelloInvalid, alert, started).await;
    };
    if intercepting {
        let name = match &sni_host {
            Some(sni) => intercept::name_for(ctx, Some(sni), None),
            None => intercept::name_for(ctx, None, Some(&target.host)),
        };
        return match name.filter(|_| hello_read) {
            Some(name) => intercept::serve(ctx, io, event, &name, target.port, Page::Block, &who, started).await,
            None => {
                let alert = hello_read.then_some(Alert::AccessDenied);
                fail(ctx, io, event, Reason::Policy, alert, started).await
            }
        };
    }
    known.sni = sni_host.as_ref();
    known.first_bytes = !matches!(hello, Hello::Closed);
    let decision = match ctx.verdict(&subject, &known, now) {
        Verdict::Pass(d) => d,
        Verdict::Refuse(d, reason) => {
            if d.hit.is_some() {
                ctx.apply(&mut event, &d);
            }
            // A blocked SNI (fronting included) gets the block page when the CA
            // covers it.
            let page = matches!(reason, Reason::Policy | Reason::DomainFronting) && d.hit.is_some() && hello_read;
            if let Some(name) = intercept::name_for(ctx, known.sni, None).filter(|_| page) {
                event.reason = Some(reason);
                event.action = reason.action();
                return intercept::serve(ctx, io, event, &name, target.port, Page::Block, &who, started).await;
            }
            let alert = hello_read.then_some(Alert::AccessDenied);
            return fail(ctx, io, event, reason, alert, started).await;
        }
    };
    ctx.apply(&mut event, &decision);
    if decision.action == policy::Action::Warn && hello_read && intercept::advises(ctx, &who, &event) {
        if let Some(name) = intercept::name_for(ctx, known.sni, known.requested) {
            return intercept::serve(ctx, io, event, &name, target.port, Page::Advice, &who, started).await;
        }
    }
    if matches!(hello, Hello::Closed) {
        event.duration = Some(started.elapsed());
        event.source_bytes = Some(0);
        event.destination_bytes = Some(0);
        finish(ctx, &mut io.client, event, Answer::Close).await;
        return;
    }

    pipe(ctx, io, event, &addrs, hello_read, started).await;
}

/// Dials the first of `addrs` that answers, replays the bytes already read from the
/// client, relays both ways until either side closes (or `idle_timeout`), and
/// finishes with the byte counts. A failure is an `internal_error` alert when the
/// client speaks TLS (`tls`), a close otherwise.
pub(super) async fn pipe(ctx: &Ctx, io: &mut Io, mut event: Event, addrs: &[SocketAddr], tls: bool, started: Instant) {
    let cfg = &ctx.snap.config.proxy;
    let hello_read = tls;
    let (mut upstream, addr) = match upstream::dial(addrs, cfg.limits.connect_timeout).await {
        Ok(c) => c,
        Err(e) => {
            let reason = ctx.upstream_failed(&mut event, e);
            let alert = hello_read.then_some(Alert::InternalError);
            return fail(ctx, io, event, reason, alert, started).await;
        }
    };
    event.destination_ip = Some(addr.ip());
    if ctx.snap.config.log.tunnel_open_events {
        let mut open = event.clone();
        open.id = crate::events::new_id();
        finish(ctx, &mut io.client, open, Answer::KeepOpen).await;
    }
    let replay = io.inbound.take_all();
    let replayed = replay.len() as u64;
    if upstream.write_all(&replay).await.is_err() {
        event.duration = Some(started.elapsed());
        let alert = hello_read.then_some(Alert::InternalError);
        return fail(ctx, io, event, Reason::UpstreamConnectFailed, alert, started).await;
    }
    let idle = ctx.snap.config.proxy.limits.idle_timeout;
    ctx.shared.metrics.active_tunnels.inc();
    // A TLS client's records are watched until its encrypted traffic begins: a second
    // ClientHello (after a HelloRetryRequest) naming another server is cut unrelayed.
    let hellos = hello_read.then(|| HelloWatch::new(event.server_name.as_deref()));
    let relayed = super::relay::relay(&mut io.client, &mut upstream, idle, ctx.shared.phase.clone(), hellos).await;
    ctx.shared.metrics.active_tunnels.dec();
    event.duration = Some(started.elapsed());
    event.source_bytes = Some(replayed + relayed.up);
    event.destination_bytes = Some(relayed.down);
    if let Some(cut) = relayed.cut {
        if let Watched::Switched(Some(name)) = cut {
            event.server_name = Some(name);
        }
        tracing::debug!(peer = %ctx.peer, "a further ClientHello named another server: tunnel cut");
        let alert = Some(Alert::IllegalParameter);
        return fail(ctx, io, event, Reason::ClientHelloInvalid, alert, started).await;
    }
    finish(ctx, &mut io.client, event, Answer::Close).await;
}

/// A refusal or failure after the 200: the event, then the alert (if a ClientHello
/// was read), then close.
pub(super) async fn fail(
    ctx: &Ctx,
    io: &mut Io,
    mut event: Event,
    reason: Reason,
    alert: Option<Alert>,
    started: Instant,
) {
    event.reason = Some(reason);
    event.action = reason.action();
    event.duration = Some(started.elapsed());
    let answer = alert.map_or(Answer::Close, Answer::Alert);
    finish(ctx, &mut io.client, event, answer).await;
}

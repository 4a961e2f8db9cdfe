//! The transparent front door (SPEC §6a): connections the egress router redirected to
//! `transparent_listen` (`iptables`/`nftables` REDIRECT), from devices with no proxy
//! setting at all. The same story as the explicit proxy, learnt differently:
//!
//! ```text
//! original destination (SO_ORIGINAL_DST) -> who (source address) -> first bytes:
//!   TLS:   ClientHello -> verdict (SNI, original address) -> dial the original, relay
//!   HTTP:  request head -> Host -> forward (dial the original) per request
//!   other: transparent_other -> refuse, or relay to the original
//! ```
//! Allowed traffic always goes to the original destination address and port, never
//! to a fresh DNS answer. A blocked TLS connection gets an `access_denied` alert, a
//! blocked request the block page; nobody is asked for credentials (there is no 407).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use time::OffsetDateTime;
use tokio::net::TcpStream;

use super::client::Client;
use super::conn::{device_ref, Ctx, Io, Target, Who};
use super::finish::finish;
use super::head::{HeadError, RequestHead};
use super::hello;
use super::inbound::Inbound;
use super::intercept::{self, Page};
use super::verdict::{Known, Verdict};
use super::{forward, tunnel, upstream, Shared};
use crate::auth::{self, AuthFailure, Identity};
use crate::config::TransparentOther;
use crate::events::{Action, CoverageLabel, Event, IdentityLabel, Listener, Reason};
use crate::host::Host;
use crate::policy::Subject;
use crate::registry::{Coverage, Status};
use crate::respond::{Answer, Answering};
use crate::tls::client_hello::{Alert, CONTENT_TYPE_HANDSHAKE};

/// Serves one redirected connection until it closes.
pub async fn serve(shared: Arc<Shared>, client: TcpStream, peer: SocketAddr) {
    let snap = shared.state.load();
    let ctx = Ctx {
        shared,
        snap,
        // A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d: logged as IPv4.
        peer: SocketAddr::new(plain(peer.ip()), peer.port()),
        listener: Listener::Transparent,
        client_cert: None,
    };
    let original = original_destination(&client).filter(|o| !is_own(&ctx, &client, *o));
    let mut io = Io {
        client: Client::Plain(client),
        inbound: Inbound::new(),
        upstream: None,
    };
    let started = Instant::now();
    let mut event = ctx.event(Action::Allowed, None, None);
    let Some(original) = original else {
        // Not redirected (no NAT entry), or aimed at slagboom itself.
        event.reason = Some(Reason::DestinationProhibited);
        event.action = Reason::DestinationProhibited.action();
        finish(&ctx, &mut io.client, event, Answer::Close).await;
        return;
    };
    event.destination_ip = Some(original.ip());
    event.destination_port = Some(original.port());
    let who = identify(&ctx, &mut event);
    match sniff(&ctx, &mut io).await {
        First::Tls => tls(&ctx, &mut io, event, original, who, started).await,
        First::Http => http(&ctx, &mut io, original, who, started).await,
        First::Other => other(&ctx, &mut io, event, original, who, started).await,
        First::Nothing => {
            event.duration = Some(started.elapsed());
            finish(&ctx, &mut io.client, event, Answer::Close).await;
        }
    }
}

/// Who is asking: a device by its source address, or `unknown_device`; `Err` is the
/// refusal due (its facts already in `event`).
fn identify<'s>(ctx: &'s Ctx, event: &mut Event) -> Result<Who<'s>, Reason> {
    match auth::identify_by_address(&ctx.snap, ctx.peer.ip(), ctx.bound()) {
        Ok(Identity::Device { device, method }) => {
            let d = ctx.snap.registry.device(device);
            event.device = Some(device_ref(d));
            event.coverage = CoverageLabel::Known(d.coverage());
            event.identity = Some(method.label());
            Ok(Who {
                subject: Subject::Device(d),
                identity: method.label(),
            })
        }
        Ok(Identity::Unknown(mode)) => Ok(Who {
            subject: Subject::Unknown(mode),
            identity: IdentityLabel::None,
        }),
        Err(AuthFailure::Inactive { device, status }) => {
            let d = ctx.snap.registry.device(device);
            event.device = Some(device_ref(d));
            event.coverage = CoverageLabel::Known(d.coverage());
            event.identity = Some(if ctx.bound() == Some(device) {
                IdentityLabel::Radius
            } else {
                IdentityLabel::SourceIp
            });
            Err(if status == Status::Lost {
                Reason::DeviceLost
            } else {
                Reason::DeviceRetired
            })
        }
        Err(AuthFailure::Missing | AuthFailure::Invalid(_)) => Err(Reason::CredentialsMissing),
    }
}

/// What the client's first bytes are.
enum First {
    Tls,
    Http,
    Other,
    /// Closed, or silent past `client_hello_timeout`, before its first byte.
    Nothing,
}

async fn sniff(ctx: &Ctx, io: &mut Io) -> First {
    let wait = ctx.snap.config.proxy.limits.client_hello_timeout;
    match tokio::time::timeout(wait, io.inbound.fill(&mut io.client)).await {
        Ok(Ok(n)) if n > 0 => {}
        _ => return First::Nothing,
    }
    match io.inbound.data().first() {
        Some(&CONTENT_TYPE_HANDSHAKE) => First::Tls,
        // A request line starts with a method, a token: letters in practice.
        Some(b) if b.is_ascii_uppercase() => First::Http,
        _ => First::Other,
    }
}

/// TLS: the ClientHello's SNI and the original address decide.
async fn tls(
    ctx: &Ctx,
    io: &mut Io,
    mut event: Event,
    original: SocketAddr,
    who: Result<Who<'_>, Reason>,
    started: Instant,
) {
    let limits = &ctx.snap.config.proxy.limits;
    let hello = match hello::read(&mut io.inbound, &mut io.client, limits, false).await {
        Ok(h) => h,
        Err((reason, alert)) => return tunnel::fail(ctx, io, event, reason, alert, started).await,
    };
    let Ok(sni_host) = hello::server_name(&hello, &mut event) else {
        let alert = Some(Alert::DecodeError);
        return tunnel::fail(ctx, io, event, Reason::ClientHelloInvalid, alert, started).await;
    };
    if let Some(host) = &sni_host {
        event.destination_domain = Some(host.as_str().to_owned());
    }
    let who = match who {
        Ok(w) => w,
        Err(reason) => return tunnel::fail(ctx, io, event, reason, Some(Alert::AccessDenied), started).await,
    };
    let known = Known {
        requested: None,
        sni: sni_host.as_ref(),
        first_bytes: true,
        original: Some(original.ip()),
    };
    let Some(addrs) = decide(ctx, &mut event, &who, &known, original) else {
        let reason = event.reason.unwrap_or(Reason::Policy);
        // A blocked name the block-page CA covers gets the block page (SPEC §7).
        let name = intercept::name_for(ctx, sni_host.as_ref(), None);
        if let Some(name) = name.filter(|_| reason == Reason::Policy && event.rule.is_some()) {
            event.action = reason.action();
            let port = original.port();
            return intercept::serve(ctx, io, event, &name, port, Page::Block, &who, started).await;
        }
        return tunnel::fail(ctx, io, event, reason, Some(Alert::AccessDenied), started).await;
    };
    if event.action == Action::Advised && intercept::advises(ctx, &who, &event) {
        if let Some(name) = intercept::name_for(ctx, sni_host.as_ref(), None) {
            let port = original.port();
            return intercept::serve(ctx, io, event, &name, port, Page::Advice, &who, started).await;
        }
    }
    tunnel::pipe(ctx, io, event, &addrs, true, started).await;
}

/// The verdict and the address rules; `None` when refused (reason and rule set on the
/// event), else the address to dial.
fn decide(
    ctx: &Ctx,
    event: &mut Event,
    who: &Who<'_>,
    known: &Known<'_>,
    original: SocketAddr,
) -> Option<Vec<SocketAddr>> {
    let now = OffsetDateTime::now_utc();
    let subject = who.subject();
    match ctx.verdict(&subject, known, now) {
        Verdict::Pass(d) => ctx.apply(event, &d),
        Verdict::Refuse(d, reason) => {
            if d.hit.is_some() {
                ctx.apply(event, &d);
            }
            event.reason = Some(reason);
            return None;
        }
    }
    match upstream::check(&ctx.snap, &ctx.shared.listeners, &subject, vec![original], now) {
        Ok(addrs) => Some(addrs),
        Err(e) => {
            let reason = ctx.upstream_failed(event, e);
            event.reason = Some(reason);
            None
        }
    }
}

/// Plain HTTP: every request is decided on its `Host` and forwarded to the original
/// destination, one event per request.
async fn http(ctx: &Ctx, io: &mut Io, original: SocketAddr, who: Result<Who<'_>, Reason>, started: Instant) {
    let limits = &ctx.snap.config.proxy.limits;
    let mut phase = ctx.shared.phase.clone();
    let mut started = started;
    loop {
        let Some(head) = io.next_head(limits, &mut phase).await else {
            return;
        };
        let mut event = ctx.event(Action::Allowed, None, None);
        event.destination_ip = Some(original.ip());
        event.destination_port = Some(original.port());
        let head = match head {
            Ok(h) => h,
            Err(HeadError::Closed) => return,
            Err(HeadError::Refuse(reason)) => {
                finish(ctx, &mut io.client, event, refusal(reason, None)).await;
                return;
            }
        };
        event.http = true;
        event.method = Some(head.method().to_owned());
        let target = match target_of(&head, original) {
            Ok(t) => t,
            Err(reason) => {
                finish(ctx, &mut io.client, event, refusal(reason, Some(&head))).await;
                return;
            }
        };
        let who = match &who {
            Ok(w) => *w,
            Err(reason) => {
                let mut event = ctx.event(reason.action(), Some(&target), None);
                event.http = true;
                event.method = Some(head.method().to_owned());
                let _ = identify(ctx, &mut event);
                finish(ctx, &mut io.client, event, refusal(*reason, Some(&head))).await;
                return;
            }
        };
        if !forward::run(ctx, io, &head, &target, who, started).await {
            return;
        }
        started = Instant::now();
    }
}

/// The target of a request that came without a proxy: `Host` (or an absolute-form
/// URI agreeing with it), the original destination's port and address.
fn target_of(head: &RequestHead, original: SocketAddr) -> Result<Target, Reason> {
    let mut hosts = head.all("host");
    let (Some(value), None) = (hosts.next(), hosts.next()) else {
        return Err(Reason::BadRequest);
    };
    let value = std::str::from_utf8(value).map_err(|_| Reason::BadRequest)?;
    let (host, _) = Host::parse_authority(value.trim()).map_err(|_| Reason::BadRequest)?;
    let t = head.target();
    let path = if t.starts_with('/') {
        t.to_owned()
    } else {
        // Absolute form: its host must be the Host header's.
        let rest = match t.get(..7) {
            Some(s) if s.eq_ignore_ascii_case("http://") => &t[7..],
            _ => return Err(Reason::BadRequest),
        };
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (uri_host, _) = Host::parse_authority(&rest[..end]).map_err(|_| Reason::BadRequest)?;
        if uri_host != host {
            return Err(Reason::BadRequest);
        }
        match &rest[end..] {
            "" => "/".to_owned(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_owned(),
        }
    };
    Ok(Target {
        host,
        port: original.port(),
        path: Some(path),
        original: Some(original),
    })
}

/// Bytes that are neither TLS nor HTTP: `transparent_other` says whether they pass
/// (decided on the original address alone) or are refused.
async fn other(
    ctx: &Ctx,
    io: &mut Io,
    mut event: Event,
    original: SocketAddr,
    who: Result<Who<'_>, Reason>,
    started: Instant,
) {
    let covered = who
        .as_ref()
        .map_or(true, |w| w.subject().coverage() == Coverage::Covered);
    let refuse = match ctx.snap.config.proxy.transparent_other {
        TransparentOther::Refuse => true,
        TransparentOther::RefuseCovered => covered,
        TransparentOther::Pass => false,
    };
    let who = match who {
        Ok(w) if !refuse => w,
        _ => return tunnel::fail(ctx, io, event, Reason::NotTls, None, started).await,
    };
    event.unknown_protocol = true;
    let known = Known {
        first_bytes: true,
        original: Some(original.ip()),
        ..Known::default()
    };
    // Under require_sni_for_covered, bytes without SNI from a covered device are
    // refused like a ClientHello without one.
    let Some(addrs) = decide(ctx, &mut event, &who, &known, original) else {
        let reason = event.reason.unwrap_or(Reason::Policy);
        return tunnel::fail(ctx, io, event, reason, None, started).await;
    };
    tunnel::pipe(ctx, io, event, &addrs, false, started).await;
}

/// A refusal answered as the origin would (no 407 challenge a client without a proxy
/// setting could answer).
fn refusal(reason: Reason, head: Option<&RequestHead>) -> Answer<'static> {
    Answer::Refusal {
        reason,
        answering: Answering {
            keep_alive: false,
            head: head.is_some_and(|h| h.method() == "HEAD"),
            as_origin: true,
        },
    }
}

/// Where the client was going before the REDIRECT (`SO_ORIGINAL_DST`, or
/// `IP6T_SO_ORIGINAL_DST` for IPv6); `None` when the connection was not redirected.
fn original_destination(client: &TcpStream) -> Option<SocketAddr> {
    #[cfg(target_os = "linux")]
    {
        let local = client.local_addr().ok()?;
        let v4 = rustix::net::sockopt::ip_original_dst(client).map(SocketAddr::V4);
        let original = match local {
            SocketAddr::V6(l) if l.ip().to_ipv4_mapped().is_none() => {
                rustix::net::sockopt::ipv6_original_dst(client).map(SocketAddr::V6)
            }
            _ => v4,
        };
        let original = original.ok()?;
        Some(SocketAddr::new(plain(original.ip()), original.port()))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = client;
        None
    }
}

/// True when `original` is slagboom itself: the listener the connection arrived on
/// (a connection made straight to it, not redirected), or any of its listeners.
fn is_own(ctx: &Ctx, client: &TcpStream, original: SocketAddr) -> bool {
    let arrived = client.local_addr().map(|l| SocketAddr::new(plain(l.ip()), l.port()));
    arrived.is_ok_and(|l| l == original) || upstream::is_own(&ctx.shared.listeners, original)
}

/// IPv4 addresses in their plain form (not `::ffff:a.b.c.d`).
fn plain(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

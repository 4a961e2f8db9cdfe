//! Interception of blocked and advised hosts only (SPEC §7): where a refusal would
//! otherwise be a bare TLS alert, TLS is terminated with a leaf minted for the name and
//! a page a person understands is served over it.
//!
//! ```text
//! blocked CONNECT host, blocked SNI (fronting), blocked transparent TLS -> block page
//! warn on TLS, not acknowledged today                                   -> advice page
//!   leaf: cache, else minted off the runtime threads -> handshake (the ClientHello
//!   replayed) -> one request -> event (labels.intercepted) -> page -> close
//! ```
//! Allowed traffic never comes here. A name outside the CA's constraints, an IP
//! literal, or no `[intercept]` at all: no interception, the caller refuses as before.

use std::sync::Arc;
use std::time::Instant;

use rustls::ServerConfig;
use tokio::io::AsyncReadExt;
use tokio_rustls::TlsAcceptor;

use super::advice;
use super::client::{Answerable, Replay};
use super::conn::{Ctx, Io, Who};
use super::finish::finish;
use super::head::{self, RequestHead};
use super::inbound::Inbound;
use crate::events::{Event, Reason};
use crate::host::Host;
use crate::metrics::KindLabel;
use crate::respond::advice_page::CONTINUE_PATH;
use crate::respond::{Answer, Answering};
use crate::tls::client_hello::Alert;
use crate::tls::leaf::{self, BlockCa};

/// Largest "continue" form accepted (it carries one token).
const FORM_BYTES: u64 = 4096;

/// Locks that keep two connections from minting a leaf for the same name at once.
#[derive(Debug, Default)]
pub struct MintLocks {
    shards: [tokio::sync::Mutex<()>; 16],
}

impl MintLocks {
    /// The lock of `name`'s shard.
    pub async fn lock(&self, name: &str) -> tokio::sync::MutexGuard<'_, ()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        name.hash(&mut h);
        self.shards[(h.finish() % 16) as usize].lock().await
    }
}

/// Which page an intercepted connection gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Page {
    Block,
    Advice,
}

impl Page {
    fn kind(self) -> &'static str {
        match self {
            Page::Block => "block",
            Page::Advice => "advice",
        }
    }
}

/// The name a leaf would be minted for: the SNI, else the CONNECT host; `None` when
/// nothing may be intercepted (no `[intercept]`, an IP literal, a name outside the
/// CA's constraints).
pub(super) fn name_for(ctx: &Ctx, sni: Option<&Host>, requested: Option<&Host>) -> Option<String> {
    let ca = ctx.snap.block_ca.as_ref()?;
    let name = sni.or(requested)?.name()?;
    ca.permits(name).then(|| name.to_owned())
}

/// Who acknowledges an advice page: the device, or the source address of an unknown
/// one.
fn device_key(ctx: &Ctx, who: &Who<'_>) -> String {
    match who.device() {
        Some(d) => d.id.to_string(),
        None => format!("ip:{}", ctx.peer.ip()),
    }
}

/// True when a `warn` for `ruleset` should show the advice page now: interception
/// and `advice_pages` are on, and the device has not acknowledged it today.
pub(super) fn advises(ctx: &Ctx, who: &Who<'_>, event: &Event) -> bool {
    let on = ctx.snap.config.intercept.as_ref().is_some_and(|i| i.advice_pages);
    let Some(rule) = event.rule.as_ref().filter(|_| on) else {
        return false;
    };
    !ctx.shared
        .advice
        .acknowledged(&device_key(ctx, who), &rule.ruleset, advice::today())
}

/// The leaf for `name`: from the cache, else minted on a blocking thread (so the
/// runtime's threads keep serving other connections) and cached. Connections that miss
/// at once for the same name wait for one mint (a lock per shard of names) instead of
/// each minting its own.
pub(super) async fn leaf(ctx: &Ctx, ca: &Arc<BlockCa>, name: &str) -> Option<Arc<ServerConfig>> {
    let cfg = ctx.snap.config.intercept.as_ref()?;
    let cache = &ctx.shared.leaves;
    if let Some(hit) = cache.get(ca, name) {
        return Some(hit);
    }
    let _minting = ctx.shared.minting.lock(name).await;
    if let Some(hit) = cache.get(ca, name) {
        return Some(hit);
    }
    let (signer, owned, lifetime) = (ca.clone(), name.to_owned(), cfg.leaf_lifetime);
    let minted = tokio::task::spawn_blocking(move || signer.mint(&owned, lifetime).and_then(leaf::server_config)).await;
    match minted {
        Ok(Ok(config)) => {
            ctx.shared.metrics.certificates_minted.inc();
            cache.resize(cfg.leaf_cache);
            cache.put(ca, name, config.clone(), lifetime);
            Some(config)
        }
        Ok(Err(e)) => {
            tracing::warn!(name, error = %e, "cannot mint a leaf");
            None
        }
        Err(_) => None,
    }
}

/// Terminates TLS for `name` and serves `page` for one request, then closes. `event`
/// carries the decision (blocked with its reason, or advised); it is recorded before
/// the page is sent, with `labels.intercepted` once the handshake succeeded. A client
/// that refuses the leaf (a pinned app) ends the handshake: the event is recorded
/// without the label. `port` is the port the client asked for (for the 303's URL).
#[allow(clippy::too_many_arguments)]
pub(super) async fn serve(
    ctx: &Ctx,
    io: &mut Io,
    mut event: Event,
    name: &str,
    port: u16,
    page: Page,
    who: &Who<'_>,
    started: Instant,
) {
    let limits = &ctx.snap.config.proxy.limits;
    let config = match ctx.snap.block_ca.as_ref() {
        Some(ca) => leaf(ctx, ca, name).await,
        None => None,
    };
    let Some(config) = config else {
        event.duration = Some(started.elapsed());
        let alert = match page {
            Page::Block => Alert::AccessDenied,
            Page::Advice => Alert::InternalError,
        };
        finish(ctx, &mut io.client, event, Answer::Alert(alert)).await;
        return;
    };
    let hello = io.inbound.take_all();
    let handshake = TlsAcceptor::from(config).accept(Replay::new(hello, &mut io.client));
    let mut tls = match tokio::time::timeout(limits.client_hello_timeout, handshake).await {
        Ok(Ok(tls)) => tls,
        failed => {
            // Refused (a pinned client) or too slow: on record without the label.
            if let Ok(Err(e)) = failed {
                tracing::debug!(peer = %ctx.peer, name, error = %e, "intercepted handshake failed");
            }
            event.duration = Some(started.elapsed());
            finish(ctx, &mut io.client, event, Answer::Close).await;
            return;
        }
    };
    event.intercepted = true;
    ctx.shared
        .metrics
        .intercepted
        .get_or_create(&KindLabel { kind: page.kind() })
        .inc();
    let mut inbound = Inbound::new();
    let head = head::read(&mut inbound, &mut tls, limits.header_bytes, limits.header_timeout).await;
    event.duration = Some(started.elapsed());
    let Ok(head) = head else {
        finish(ctx, &mut tls, event, Answer::Close).await;
        return;
    };
    match page {
        Page::Block => {
            let facts_event = event.clone();
            let answer = Answer::BlockPage {
                facts: ctx.facts(&facts_event, name, "blocked"),
                accept: head.get_str("accept"),
                accept_language: head.get_str("accept-language"),
                head: head.method() == "HEAD",
            };
            finish(ctx, &mut tls, event, answer).await;
        }
        Page::Advice => advise(ctx, &mut tls, &mut inbound, event, &head, name, port, who).await,
    }
}

/// The advice page, or the "continue" it posts.
#[allow(clippy::too_many_arguments)]
async fn advise<S>(
    ctx: &Ctx,
    tls: &mut S,
    inbound: &mut Inbound,
    mut event: Event,
    head: &RequestHead,
    name: &str,
    port: u16,
    who: &Who<'_>,
) where
    S: Answerable + tokio::io::AsyncRead,
{
    let day = advice::today();
    let key = device_key(ctx, who);
    let path = head.target().split(['?', '#']).next().unwrap_or("");
    if head.method() == "POST" && path == CONTINUE_PATH {
        let limits = &ctx.snap.config.proxy.limits;
        let token = tokio::time::timeout(limits.header_timeout, form_token(head, inbound, tls)).await;
        let redeemed = match token {
            Ok(Some(t)) => ctx.shared.advice.redeem(&t, &key, day).ok(),
            _ => None,
        };
        let Some((_, url)) = redeemed else {
            // Forged, reused, another device's or another day's token.
            let answer = Answer::Refusal {
                reason: Reason::CredentialsInvalid,
                answering: Answering {
                    as_origin: true,
                    ..Answering::default()
                },
            };
            finish(ctx, tls, event, answer).await;
            return;
        };
        event.acknowledged = true;
        finish(ctx, tls, event, Answer::SeeOther { location: &url }).await;
        return;
    }
    let authority = if port == 443 {
        name.to_owned()
    } else {
        format!("{name}:{port}")
    };
    let target = head.target();
    let url = if target.starts_with('/') {
        format!("https://{authority}{target}")
    } else {
        format!("https://{authority}/")
    };
    let ruleset = event.rule.as_ref().map_or("", |r| r.ruleset.as_str());
    let token = ctx.shared.advice.issue(&key, ruleset, day, url);
    let facts_event = event.clone();
    let answer = Answer::AdvicePage {
        facts: ctx.facts(&facts_event, name, "advised"),
        token: &token,
        accept_language: head.get_str("accept-language"),
        head: head.method() == "HEAD",
    };
    finish(ctx, tls, event, answer).await;
}

/// The `token` field of an `application/x-www-form-urlencoded` body framed by
/// `Content-Length` (at most [`FORM_BYTES`]).
async fn form_token<S: tokio::io::AsyncRead + Unpin>(
    head: &RequestHead,
    inbound: &mut Inbound,
    s: &mut S,
) -> Option<String> {
    let len: u64 = match head.framing().ok()? {
        head::Framing::Length(n) if n <= FORM_BYTES => n,
        _ => return None,
    };
    let len = usize::try_from(len).ok()?;
    let mut body = inbound.take_all();
    if body.len() < len {
        let mut rest = vec![0u8; len - body.len()];
        s.read_exact(&mut rest).await.ok()?;
        body.extend_from_slice(&rest);
    }
    body.truncate(len);
    let body = std::str::from_utf8(&body).ok()?;
    body.split('&')
        .find_map(|pair| pair.strip_prefix("token="))
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_owned)
}

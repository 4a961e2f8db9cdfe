//! Plain HTTP: absolute-form `http://` requests are decided on their host, then sent
//! upstream in origin-form with hop-by-hop headers and `Proxy-Authorization` removed.
//! Bodies stream both ways with their framing checked; the upstream connection is kept
//! for the next request to the same host and port.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::body::{self, BodyError};
use super::conn::{Ctx, Io, Target, Who};
use super::finish::{finish, refusal};
use super::head::{Framing, RequestHead, HOP_BY_HOP};
use super::inbound::Inbound;
use super::response::{relay_response, ResponseDone, ResponseError};
use super::upstream::{self, Kept};
use super::verdict::{Known, Verdict};
use crate::events::{Action, Reason};
use crate::policy;
use crate::respond::Answer;

/// Forwards one request. Returns true when the client connection stays open.
pub(super) async fn run(
    ctx: &Ctx,
    io: &mut Io,
    head: &RequestHead,
    target: &Target,
    who: Who<'_>,
    started: Instant,
) -> bool {
    let now = time::OffsetDateTime::now_utc();
    // `parse_target` accepted this target only with an `http://` prefix (any case).
    let url = match head.target().get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("http://") => {
            format!("http://{}", head.target().get(7..).unwrap_or(""))
        }
        // Origin-form (transparent mode): the URL is rebuilt from Host and the path.
        _ => format!("http://{}{}", target.authority(), head.target()),
    };
    let mut event = ctx.event(Action::Allowed, Some(target), Some(&who));
    event.http = true;
    event.method = Some(head.method().to_owned());
    event.url = Some(url);
    let framing = match head.framing() {
        Ok(f) => f,
        Err(reason) => return finish(ctx, &mut io.client, event, refusal(reason, Some(head), false)).await,
    };
    let subject = who.subject();
    let known = Known {
        requested: Some(&target.host),
        original: target.original.map(|a| a.ip()),
        ..Known::default()
    };
    let decision = match ctx.verdict(&subject, &known, now) {
        Verdict::Pass(d) => d,
        Verdict::Refuse(d, _) => {
            ctx.apply(&mut event, &d);
            let page = block_page(ctx, head, &event, target);
            return finish(ctx, &mut io.client, event.clone(), page).await;
        }
    };
    ctx.apply(&mut event, &decision);

    let reuse = io
        .upstream
        .take()
        .filter(|u| u.host == target.host.as_str() && u.port == target.port && still_open(&u.stream));
    let mut up = match reuse {
        Some(u) => u,
        None => match connect(ctx, &subject, target, now).await {
            Ok((stream, _)) => Kept {
                host: target.host.as_str().to_owned(),
                port: target.port,
                stream,
                inbound: Inbound::new(),
            },
            Err(e) => {
                let reason = ctx.upstream_failed(&mut event, e);
                event.duration = Some(started.elapsed());
                return finish(ctx, &mut io.client, event, refusal(reason, Some(head), false)).await;
            }
        },
    };
    if let Ok(addr) = up.stream.peer_addr() {
        event.destination_ip = Some(addr.ip());
    }

    let request_head = rewrite_request(head, target, framing);
    let client_keep = head.version == 1 && !head.connection_has("close");
    let head_only = head.method() == "HEAD";
    let answered = AtomicBool::new(false);
    let exchanged = exchange(io, &mut up, &request_head, framing, head_only, client_keep, &answered).await;
    event.duration = Some(started.elapsed());
    let (sent, received) = match exchanged {
        Exchange::Response { sent, received } => (sent, received),
        Exchange::BodyFailed(e) => {
            // The origin must never complete a request whose body was not checked: reset
            // the upstream connection before anything else.
            tracing::debug!(peer = %ctx.peer, event.id = %event.id, error = %e, "request body failed: upstream aborted");
            abort(up.stream);
            if !answered.load(Ordering::Relaxed) {
                return finish(
                    ctx,
                    &mut io.client,
                    event,
                    refusal(Reason::BadRequest, Some(head), false),
                )
                .await;
            }
            event.reason = Some(Reason::BadRequest);
            event.action = Reason::BadRequest.action();
            return finish(ctx, &mut io.client, event, Answer::Close).await;
        }
    };
    let body_sent = matches!(sent, Some(Ok(_)));
    event.source_bytes = Some(match sent {
        Some(Ok(n)) => head.head_len() as u64 + n,
        _ => 0,
    });
    let keep = match received {
        Ok(r) => {
            event.status_code = Some(r.status);
            event.destination_bytes = Some(r.bytes);
            if r.upstream_reusable && body_sent {
                io.upstream = Some(up);
            }
            r.client_keep && body_sent
        }
        Err(ResponseError::BeforeHead) => {
            let answer = refusal(Reason::UpstreamConnectFailed, Some(head), false);
            return finish(ctx, &mut io.client, event, answer).await;
        }
        Err(ResponseError::AfterHead { status, bytes }) => {
            event.status_code = Some(status);
            event.destination_bytes = Some(bytes);
            false
        }
    };
    match decision.action {
        policy::Action::Warn => event.action = Action::Advised,
        policy::Action::Report => event.action = Action::Reported,
        _ => {}
    }
    // The response (its status already in the event) was relayed.
    let answer = if keep { Answer::KeepOpen } else { Answer::Close };
    finish(ctx, &mut io.client, event, answer).await
}

/// Resolves, checks and dials the target.
async fn connect(
    ctx: &Ctx,
    subject: &policy::Subject<'_>,
    target: &Target,
    now: time::OffsetDateTime,
) -> Result<(TcpStream, std::net::SocketAddr), upstream::UpstreamError> {
    let addrs = ctx.resolve(subject, target, now).await?;
    upstream::dial(&addrs, ctx.snap.config.proxy.limits.connect_timeout).await
}

/// How one request and its response went.
enum Exchange {
    /// The response was relayed, or failed. `sent` is how the request body went, `None`
    /// when the response ended first.
    Response {
        sent: Option<Result<u64, BodyError>>,
        received: Result<ResponseDone, ResponseError>,
    },
    /// The client broke its body's framing or closed early: the upstream must be aborted.
    BodyFailed(BodyError),
}

/// Sends the request upstream while relaying the response back, both at once (an
/// origin may answer before it has read the whole body). A failure of the client's
/// body ends the exchange at once; `answered` turns true before the first response
/// byte is written to the client.
async fn exchange(
    io: &mut Io,
    up: &mut Kept,
    request_head: &[u8],
    framing: Framing,
    head_only: bool,
    client_keep: bool,
    answered: &AtomicBool,
) -> Exchange {
    let (mut cr, mut cw) = io.client.split();
    let (mut ur, mut uw) = up.stream.split();
    let inbound = &mut io.inbound;
    let upload = async {
        uw.write_all(request_head).await.map_err(BodyError::Write)?;
        body::relay(inbound, &mut cr, &mut uw, framing).await
    };
    let download = relay_response(&mut up.inbound, &mut ur, &mut cw, head_only, client_keep, answered);
    tokio::pin!(upload, download);
    let mut sent = None;
    loop {
        tokio::select! {
            r = &mut upload, if sent.is_none() => match r {
                Err(e) if e.is_sender() => return Exchange::BodyFailed(e),
                r => sent = Some(r),
            },
            received = &mut download => return Exchange::Response { sent, received },
        }
    }
}

/// Closes `stream` with a reset (`SO_LINGER` 0), so the peer sees the request end
/// abnormally rather than a clean end of stream.
fn abort(stream: TcpStream) {
    let _ = socket2::SockRef::from(&stream).set_linger(Some(std::time::Duration::ZERO));
    drop(stream);
}

/// The block page (HTML in the user's language, or JSON; the head alone for `HEAD`).
fn block_page<'a>(
    ctx: &'a Ctx,
    head: &'a RequestHead,
    event: &'a crate::events::Event,
    target: &'a Target,
) -> Answer<'a> {
    Answer::BlockPage {
        facts: ctx.facts(event, target.host.as_str(), "blocked"),
        accept: head.get_str("accept"),
        accept_language: head.get_str("accept-language"),
        head: head.method() == "HEAD",
    }
}

/// A kept upstream connection that the origin has closed reads as end-of-stream.
fn still_open(stream: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    match stream.try_read(&mut probe) {
        Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
        Ok(_) => false,
    }
}

/// The request head sent upstream: origin-form, hop-by-hop headers (and those the
/// `Connection` header names) removed, framing restated.
fn rewrite_request(head: &RequestHead, target: &Target, framing: Framing) -> Vec<u8> {
    let mut out = Vec::with_capacity(head.head_len() + 64);
    out.extend_from_slice(head.method().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.path.as_deref().unwrap_or("/").as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let named: Vec<String> = head
        .all("connection")
        .filter_map(|v| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .collect();
    for (name, value) in head.headers() {
        let lower = name.to_ascii_lowercase();
        if HOP_BY_HOP.contains(&lower.as_str()) || named.contains(&lower) {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    match framing {
        Framing::None => {}
        Framing::Length(n) => {
            out.extend_from_slice(b"Content-Length: ");
            out.extend_from_slice(n.to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
    }
    out.extend_from_slice(b"\r\n");
    out
}

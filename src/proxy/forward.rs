//! Plain HTTP: absolute-form `http://` requests are decided on their host, then sent
//! upstream in origin-form with hop-by-hop headers and `Proxy-Authorization` removed.
//! Bodies stream both ways with their framing checked; the upstream connection is kept
//! for the next request to the same host and port.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::body::{self, BodyError};
use super::conn::{Ctx, Io, Target, Who};
use super::finish::{finish, refusal};
use super::head::{self, Framing, RequestHead};
use super::inbound::{invalid, Inbound};
use super::upstream::{self, Kept};
use super::verdict::{Known, Verdict};
use crate::events::{Action, Reason};
use crate::policy;
use crate::respond::{Answer, BlockFacts};

/// Longest response head accepted from an origin.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// Headers that belong to one hop and are never forwarded (`Content-Length` and
/// `Transfer-Encoding` are restated from the checked framing instead).
const HOP_BY_HOP: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

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
    let url = format!("http://{}", head.target().get(7..).unwrap_or(""));
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
    if decision.action == policy::Action::Warn {
        event.action = Action::Advised;
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
    let policy = event
        .rule
        .as_ref()
        .and_then(|r| ctx.snap.policies.iter().find(|p| p.id == r.reference));
    let rule = event.rule.as_ref();
    let facts = BlockFacts {
        event_id: &event.id,
        action: "blocked",
        host: target.host.as_str(),
        policy_id: policy.map_or("", |p| p.id.as_str()),
        policy_title: policy.map_or("", |p| p.title.as_str()),
        policy_reference: policy.map_or("", |p| p.reference.as_str()),
        ruleset: rule.map_or("", |r| r.ruleset.as_str()),
        rule: rule.map_or("", |r| r.id.as_str()),
        contact: &ctx.snap.config.contact,
    };
    Answer::BlockPage {
        facts,
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

struct ResponseDone {
    status: u16,
    bytes: u64,
    client_keep: bool,
    upstream_reusable: bool,
}

enum ResponseError {
    /// Nothing was sent to the client: a 502 can still be answered.
    BeforeHead,
    /// The head was sent; the connection can only be closed.
    AfterHead { status: u16, bytes: u64 },
}

/// Reads the response (forwarding 1xx interim responses), rewrites its head and relays
/// its body.
async fn relay_response<R, W>(
    inbound: &mut Inbound,
    r: &mut R,
    w: &mut W,
    head_only: bool,
    client_keep: bool,
    answered: &AtomicBool,
) -> Result<ResponseDone, ResponseError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut bytes = 0u64;
    loop {
        let parsed = read_response_head(inbound, r).await.map_err(|_| {
            if bytes == 0 {
                ResponseError::BeforeHead
            } else {
                ResponseError::AfterHead { status: 0, bytes }
            }
        })?;
        let status = parsed.status;
        let after = |bytes| ResponseError::AfterHead { status, bytes };
        answered.store(true, Ordering::Relaxed);
        if (100..200).contains(&status) && status != 101 {
            w.write_all(&parsed.rewritten(None, true))
                .await
                .map_err(|_| after(bytes))?;
            bytes += parsed.len as u64;
            continue;
        }
        let no_body = head_only || status == 204 || status == 304 || (100..200).contains(&status);
        let framing = if no_body {
            Some(Framing::None)
        } else {
            parsed.framing.ok()
        };
        // No usable framing: the body runs until the origin closes.
        let keep = client_keep && framing.is_some() && status != 101;
        let upstream_reusable = framing.is_some() && !parsed.close;
        w.write_all(&parsed.rewritten(framing, keep))
            .await
            .map_err(|_| after(bytes))?;
        bytes += parsed.len as u64;
        let body = match framing {
            Some(f) => body::relay(inbound, r, w, f).await,
            None => body::relay_to_end(inbound, r, w).await,
        };
        bytes += body.map_err(|_| after(bytes))?;
        w.flush().await.map_err(|_| after(bytes))?;
        return Ok(ResponseDone {
            status,
            bytes,
            client_keep: keep,
            upstream_reusable,
        });
    }
}

struct ResponseHead {
    status: u16,
    reason: String,
    headers: Vec<(String, Vec<u8>)>,
    framing: Result<Framing, Reason>,
    /// The origin's `Content-Length`, restated for bodiless answers (HEAD, 304).
    content_length: Option<Vec<u8>>,
    close: bool,
    len: usize,
}

impl ResponseHead {
    fn rewritten(&self, framing: Option<Framing>, keep: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len + 32);
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(self.status.to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.reason.as_bytes());
        out.extend_from_slice(b"\r\n");
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        match framing {
            Some(Framing::Length(n)) => {
                out.extend_from_slice(b"Content-Length: ");
                out.extend_from_slice(n.to_string().as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Some(Framing::Chunked) => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
            Some(Framing::None) => {
                if let (Some(len), true) = (&self.content_length, self.status >= 200 && self.status != 204) {
                    out.extend_from_slice(b"Content-Length: ");
                    out.extend_from_slice(len);
                    out.extend_from_slice(b"\r\n");
                }
            }
            None => {}
        }
        if self.status >= 200 && !keep {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

async fn read_response_head<R: AsyncRead + Unpin>(inbound: &mut Inbound, r: &mut R) -> std::io::Result<ResponseHead> {
    loop {
        if !inbound.is_empty() {
            let mut slots = [httparse::EMPTY_HEADER; 128];
            let mut resp = httparse::Response::new(&mut slots);
            match resp.parse(inbound.data()) {
                Ok(httparse::Status::Complete(n)) => {
                    let status = resp.code.ok_or_else(|| invalid("no status"))?;
                    let version = resp.version.unwrap_or(1);
                    let lengths = resp
                        .headers
                        .iter()
                        .filter(|h| h.name.eq_ignore_ascii_case("content-length"))
                        .map(|h| h.value);
                    let codings = resp
                        .headers
                        .iter()
                        .filter(|h| h.name.eq_ignore_ascii_case("transfer-encoding"))
                        .map(|h| h.value);
                    let framing = head::body_framing(lengths, codings, version);
                    let mut close = version == 0;
                    let mut named = Vec::new();
                    for h in resp
                        .headers
                        .iter()
                        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
                    {
                        for t in String::from_utf8_lossy(h.value).split(',') {
                            let t = t.trim().to_ascii_lowercase();
                            close |= t == "close";
                            named.push(t);
                        }
                    }
                    let headers = resp
                        .headers
                        .iter()
                        .filter(|h| {
                            let lower = h.name.to_ascii_lowercase();
                            !HOP_BY_HOP.contains(&lower.as_str()) && !named.contains(&lower)
                        })
                        .map(|h| (h.name.to_owned(), h.value.to_vec()))
                        .collect();
                    let head = ResponseHead {
                        status,
                        reason: resp.reason.unwrap_or("").to_owned(),
                        headers,
                        framing,
                        content_length: resp
                            .headers
                            .iter()
                            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                            .map(|h| h.value.to_vec()),
                        close,
                        len: n,
                    };
                    inbound.consume(n);
                    return Ok(head);
                }
                Ok(httparse::Status::Partial) if inbound.data().len() >= MAX_RESPONSE_HEAD => {
                    return Err(invalid("response head too large"))
                }
                Ok(httparse::Status::Partial) => {}
                Err(_) => return Err(invalid("malformed response head")),
            }
        }
        if inbound.fill(r).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
}

//! The one place a connection's event is recorded. Every front door ends each unit of
//! work here with its facts (the event) and what to answer: the event is recorded
//! first, then the answer's bytes (made by `respond`) are written, so no answer is
//! ever seen unrecorded.

use tokio::io::AsyncWriteExt;

use super::client::Answerable;
use super::conn::Ctx;
use super::head::RequestHead;
use crate::events::{Event, Reason};
use crate::respond::{Answer, Answering};

/// A refusal of the request in `head` (no content when it is a `HEAD`; no request at
/// all before a head was read).
pub fn refusal(reason: Reason, head: Option<&RequestHead>, keep_alive: bool) -> Answer<'static> {
    Answer::Refusal {
        reason,
        answering: Answering {
            keep_alive,
            head: head.is_some_and(|h| h.method() == "HEAD"),
            as_origin: false,
        },
    }
}

/// Records `event` and writes `answer`. A refusal sets the event's reason, action and
/// (for HTTP) status. Returns true when the connection stays open.
pub async fn finish<C: Answerable>(ctx: &Ctx, client: &mut C, mut event: Event, answer: Answer<'_>) -> bool {
    if let Answer::Refusal { reason, .. } = &answer {
        event.reason = Some(*reason);
        event.action = reason.action();
    }
    if event.http {
        if let Some(status) = answer.status() {
            event.status_code = Some(status);
        }
    }
    let bytes = answer.bytes(&event.id);
    ctx.record(event).await;
    match answer {
        Answer::KeepOpen => true,
        Answer::Refusal { answering, .. } if answering.keep_alive => {
            let _ = client.write_all(&bytes).await;
            let _ = client.flush().await;
            true
        }
        Answer::Close => {
            let _ = client.shutdown().await;
            false
        }
        _ => {
            last_answer(client, &bytes).await;
            false
        }
    }
}

/// Sends a connection's last bytes and half-closes it. On Linux the bytes go with
/// `MSG_MORE`, so the kernel holds them until the shutdown and sends them with the FIN in
/// one segment: one packet less, and one wake-up less for the client.
async fn last_answer<C: Answerable>(client: &mut C, bytes: &[u8]) {
    #[cfg(target_os = "linux")]
    let sent = match client.tcp() {
        // The socket is non-blocking: a full send buffer (`EAGAIN`) or a short send
        // leaves the rest to `write_all`, which waits for the socket as usual.
        Some(tcp) => rustix::net::send(
            tcp,
            bytes,
            rustix::net::SendFlags::MORE | rustix::net::SendFlags::NOSIGNAL,
        )
        .unwrap_or(0),
        // TLS: the bytes are records to make first.
        None => 0,
    };
    #[cfg(not(target_os = "linux"))]
    let sent = 0;
    if let Some(rest) = bytes.get(sent..).filter(|r| !r.is_empty()) {
        let _ = client.write_all(rest).await;
    }
    let _ = client.shutdown().await;
}

//! RELP (`transport = "relp"`): rsyslog's Reliable Event Logging Protocol. Each event
//! is one `syslog` command with its own transaction number, and the collector answers
//! each with `rsp 200 OK` once it has taken the event. An event is delivered when its
//! answer, and the answers of every event before it, have come (SPEC §8): unlike plain
//! TCP syslog, events in the collector's own buffers when it dies are never counted.
//!
//! A session opens with `open` (offering `commands=syslog`) and keeps up to
//! [`WINDOW`] events unanswered. A session that fails, a `serverclose`, an answer other
//! than 200, or a collector that answers nothing for `sink_stall_timeout` ends it;
//! every unanswered event is sent again on the next one.

pub mod frame;

use std::collections::VecDeque;
use std::time::Duration;

use super::stream::Conn;
use super::syslog::Encoder;
use super::{SendError, Sent};
use crate::config::Format;
use crate::events::Record;

/// Most events sent and not yet answered (librelp's default window).
pub const WINDOW: usize = 128;
/// Write to the socket once this much is framed.
const WRITE_CHUNK: usize = 64 * 1024;
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
const OFFER: &[u8] = concat!(
    "relp_version=0\nrelp_software=slagboom,",
    env!("CARGO_PKG_VERSION"),
    "\ncommands=syslog"
)
.as_bytes();

/// A RELP sink's transport.
#[derive(Debug)]
pub struct Relp {
    address: String,
    encoder: Encoder,
    stall: Duration,
    session: Option<Session>,
    out: Vec<u8>,
}

/// One open RELP session.
#[derive(Debug)]
struct Session {
    conn: Conn,
    next_txnr: u32,
    window: Window,
    inbox: Vec<u8>,
}

/// The events of a session sent and not yet confirmed.
#[derive(Debug, Default)]
struct Window {
    /// Sequence numbers count events across the session (TXNR wraps; marks must not).
    next_seq: u64,
    /// Oldest first: (txnr, seq, answered).
    unanswered: VecDeque<(u32, u64, bool)>,
    /// Every event up to this sequence number is answered 200.
    confirmed: u64,
}

impl Window {
    fn new() -> Window {
        Window {
            next_seq: 1,
            ..Window::default()
        }
    }

    fn len(&self) -> usize {
        self.unanswered.len()
    }

    /// Records a sent event; returns its sequence number.
    fn sent(&mut self, txnr: u32) -> u64 {
        let seq = self.next_seq;
        self.unanswered.push_back((txnr, seq, false));
        self.next_seq += 1;
        seq
    }

    /// Marks `txnr` answered, and moves the confirmed mark past every answered event
    /// at the front (answers may come out of order; an unknown TXNR changes nothing).
    fn answered(&mut self, txnr: u32) {
        if let Some(entry) = self.unanswered.iter_mut().find(|(t, _, done)| *t == txnr && !*done) {
            entry.2 = true;
        }
        while let Some(&(_, seq, true)) = self.unanswered.front() {
            self.confirmed = seq;
            self.unanswered.pop_front();
        }
    }
}

impl Relp {
    pub fn new(address: String, format: Format, facility: u8, stall: Duration) -> Relp {
        Relp {
            address,
            encoder: Encoder::new(format, facility),
            stall,
            session: None,
            out: Vec::new(),
        }
    }

    /// Sends a batch, one `syslog` command per event, keeping at most [`WINDOW`]
    /// unanswered. Delivered once [`Relp::acknowledged`] reaches the returned mark.
    /// A session that failed since the last call is not silently replaced here.
    pub async fn send(&mut self, records: &[Record]) -> Result<Sent, SendError> {
        if self.session.is_none() {
            let session = Session::open(&self.address).await.map_err(SendError::Retry)?;
            self.session = Some(session);
        }
        let result = self.send_on_session(records).await;
        if result.is_err() {
            self.session = None;
        }
        result
    }

    async fn send_on_session(&mut self, records: &[Record]) -> Result<Sent, SendError> {
        let Some(s) = self.session.as_mut() else {
            return Err(SendError::Retry("no RELP session".into()));
        };
        let fail = |e: String| SendError::Retry(format!("{}: {e}", self.address));
        let mut poison = Vec::new();
        self.out.clear();
        for (i, r) in records.iter().enumerate() {
            let Ok(msg) = self.encoder.message(r) else {
                poison.push(i);
                continue;
            };
            if s.window.len() >= WINDOW {
                // Window full: what is framed goes out, then wait until half of the
                // window is answered (so that frames go out in runs, not one by one).
                write_out(&mut s.conn, &mut self.out, self.stall).await.map_err(fail)?;
                s.drain_to(WINDOW / 2, self.stall).await.map_err(fail)?;
            }
            frame::encode(s.next_txnr, "syslog", msg, &mut self.out);
            s.window.sent(s.next_txnr);
            s.next_txnr = if s.next_txnr >= frame::MAX_TXNR {
                1
            } else {
                s.next_txnr + 1
            };
            if self.out.len() >= WRITE_CHUNK {
                write_out(&mut s.conn, &mut self.out, self.stall).await.map_err(fail)?;
            }
        }
        write_out(&mut s.conn, &mut self.out, self.stall).await.map_err(fail)?;
        Ok(Sent::Pending {
            mark: s.window.next_seq - 1,
            poison,
        })
    }

    /// The sequence number up to which every event is answered 200.
    ///
    /// # Errors
    ///
    /// The session failed (closed, reset, refused an event, or sent garbage); it is
    /// dropped.
    pub async fn acknowledged(&mut self) -> Result<u64, String> {
        let Some(s) = self.session.as_mut() else {
            return Err(format!("{}: no RELP session", self.address));
        };
        match s.read_answers().await {
            Ok(()) => Ok(s.window.confirmed),
            Err(e) => {
                self.session = None;
                Err(format!("{}: {e}", self.address))
            }
        }
    }

    /// Drops the session (a stalled collector): the next send opens a new one.
    pub fn reset(&mut self) {
        self.session = None;
    }
}

/// Writes what is framed (if anything) and empties the buffer.
async fn write_out(conn: &mut Conn, out: &mut Vec<u8>, stall: Duration) -> Result<(), String> {
    if !out.is_empty() {
        conn.write(out, stall).await.map_err(|e| e.to_string())?;
        out.clear();
    }
    Ok(())
}

impl Session {
    /// Connects and makes the `open` offer; the collector must accept it (200) and
    /// support the `syslog` command.
    async fn open(address: &str) -> Result<Session, String> {
        let conn = Conn::connect(address, None).await?;
        let mut s = Session {
            conn,
            next_txnr: 2,
            window: Window::new(),
            inbox: Vec::new(),
        };
        let mut offer = Vec::new();
        frame::encode(1, "open", OFFER, &mut offer);
        s.conn
            .write(&offer, OPEN_TIMEOUT)
            .await
            .map_err(|e| format!("{address}: RELP open: {e}"))?;
        let deadline = tokio::time::Instant::now() + OPEN_TIMEOUT;
        loop {
            match frame::parse(&s.inbox).map_err(|e| format!("{address}: RELP open: {e}"))? {
                Some((f, n)) => {
                    let accepted = f.txnr == 1 && f.command == "rsp" && f.status() == Some(200);
                    let syslog = f
                        .data
                        .split(|&b| b == b'\n')
                        .any(|l| l.starts_with(b"commands=") && l[9..].split(|&b| b == b',').any(|c| c == b"syslog"));
                    if !accepted || !syslog {
                        return Err(format!(
                            "{address}: RELP open refused: {}",
                            String::from_utf8_lossy(f.data).lines().next().unwrap_or("")
                        ));
                    }
                    s.inbox.drain(..n);
                    return Ok(s);
                }
                None => {
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    if left.is_zero() {
                        return Err(format!("{address}: RELP open: no answer"));
                    }
                    s.fill(left).await.map_err(|e| format!("{address}: RELP open: {e}"))?;
                }
            }
        }
    }

    /// Applies every answer the collector has sent so far, without waiting.
    async fn read_answers(&mut self) -> Result<(), String> {
        loop {
            self.apply_inbox()?;
            if !self.fill(Duration::ZERO).await.map_err(|e| e.to_string())? {
                return Ok(());
            }
        }
    }

    /// Waits until at most `target` events are unanswered. Fails when the collector
    /// answers nothing for `stall`.
    async fn drain_to(&mut self, target: usize, stall: Duration) -> Result<(), String> {
        let mut deadline = tokio::time::Instant::now() + stall;
        loop {
            let before = self.window.len();
            self.read_answers().await?;
            if self.window.len() <= target {
                return Ok(());
            }
            if self.window.len() < before {
                deadline = tokio::time::Instant::now() + stall;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() || !self.fill(left).await.map_err(|e| e.to_string())? {
                return Err(format!("the collector answered nothing for {stall:?}"));
            }
        }
    }

    /// Applies every whole frame in the inbox.
    fn apply_inbox(&mut self) -> Result<(), String> {
        while let Some((f, n)) = frame::parse(&self.inbox).map_err(|e| e.to_string())? {
            match (f.command, f.status()) {
                ("rsp", Some(200)) => self.window.answered(f.txnr),
                ("rsp", _) => {
                    return Err(format!(
                        "the collector refused event {}: {}",
                        f.txnr,
                        String::from_utf8_lossy(f.data)
                    ))
                }
                ("serverclose", _) => return Err("the collector closed the session".into()),
                (other, _) => return Err(format!("unexpected RELP command {other:?}")),
            }
            self.inbox.drain(..n);
        }
        Ok(())
    }

    /// Reads into the inbox, waiting at most `wait`. True when bytes came.
    async fn fill(&mut self, wait: Duration) -> std::io::Result<bool> {
        let mut buf = [0u8; 8192];
        let n = self.conn.read_some(&mut buf, wait).await?;
        self.inbox.extend_from_slice(&buf[..n]);
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers out of order confirm only the events before the first unanswered one.
    #[test]
    fn confirmation_moves_over_answered_prefixes_only() {
        let mut w = Window::new();
        for txnr in [5, 6, 7] {
            w.sent(txnr);
        }
        w.answered(6);
        assert_eq!(w.confirmed, 0);
        w.answered(5);
        assert_eq!(w.confirmed, 2);
        w.answered(9);
        w.answered(6);
        assert_eq!((w.confirmed, w.len()), (2, 1));
        w.answered(7);
        assert_eq!((w.confirmed, w.len()), (3, 0));
        assert_eq!(w.sent(8), 4);
    }

    #[test]
    fn the_offer_names_version_software_and_syslog() {
        let text = std::str::from_utf8(OFFER).unwrap();
        assert!(text.starts_with("relp_version=0\nrelp_software=slagboom,"), "{text}");
        assert!(text.ends_with("\ncommands=syslog"), "{text}");
    }
}

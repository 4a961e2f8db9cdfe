//! A syslog collector whose connections misbehave on cue: one stalls (accepts and
//! reads nothing, then resets), one resets after so many bytes, the next ones behave.
//! It reads RFC 6587 octet-counted messages carrying ECS JSON and keeps every event id
//! it received. Before it resets a connection it also takes what its own receive
//! buffer holds (peeked, so the window stays shut and nothing more arrives): the
//! collector stands for one that persisted everything its TCP stack acknowledged, so a
//! missing id can only be the sender's fault.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

use crate::support::*;

/// How one accepted connection behaves.
#[derive(Debug, Clone, Copy)]
pub enum Behaviour {
    /// Reads nothing for this long, then resets.
    Stall(Duration),
    /// Reads this many bytes, then resets.
    ResetAfter(usize),
    /// Reads until the sender closes.
    Good,
}

/// The collector. Connections beyond the script behave ([`Behaviour::Good`]).
pub struct ScriptedCollector {
    pub addr: SocketAddr,
    ids: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

/// Receive buffer of accepted connections: small, so a stalled collector shuts its
/// window quickly and the sender's queue holds the rest.
const RCVBUF: usize = 4096;

impl ScriptedCollector {
    pub async fn start(script: Vec<Behaviour>) -> ScriptedCollector {
        Self::start_on(0, script).await
    }

    /// The same on a chosen loopback port (a collector that comes up late).
    pub async fn start_on(port: u16, script: Vec<Behaviour>) -> ScriptedCollector {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.set_recv_buffer_size(RCVBUF as u32).unwrap();
        socket.bind(format!("127.0.0.1:{port}").parse().unwrap()).unwrap();
        let listener: TcpListener = socket.listen(16).unwrap();
        let addr = listener.local_addr().unwrap();
        let ids = Arc::new(Mutex::new(Vec::new()));
        let seen = ids.clone();
        let task = tokio::spawn(async move {
            let mut script = script.into_iter();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let behaviour = script.next().unwrap_or(Behaviour::Good);
                tokio::spawn(serve(stream, behaviour, seen.clone()));
            }
        });
        ScriptedCollector { addr, ids, task }
    }

    /// Every id received so far, in order of arrival (duplicates kept).
    pub fn ids(&self) -> Vec<String> {
        self.ids.lock().unwrap().clone()
    }

    /// Waits (bounded) until every id in `want` has arrived; returns the ones missing.
    pub async fn missing_after(&self, want: &[String], within: Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got: HashSet<String> = self.ids().into_iter().collect();
            let missing: Vec<String> = want.iter().filter(|id| !got.contains(*id)).cloned().collect();
            if missing.is_empty() || tokio::time::Instant::now() >= deadline {
                return missing;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for ScriptedCollector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut stream: TcpStream, behaviour: Behaviour, ids: Arc<Mutex<Vec<String>>>) {
    let mut pending = Vec::new();
    let limit = match behaviour {
        Behaviour::Stall(d) => {
            tokio::time::sleep(d).await;
            Some(0)
        }
        Behaviour::ResetAfter(n) => Some(n),
        Behaviour::Good => None,
    };
    let mut read = 0usize;
    let mut buf = vec![0u8; 65536];
    while limit.is_none_or(|l| read < l) {
        let want = limit.map_or(buf.len(), |l| (l - read).min(buf.len()));
        match tokio::time::timeout(DEADLINE * 3, stream.read(&mut buf[..want])).await {
            Ok(Ok(n)) if n > 0 => {
                read += n;
                pending.extend_from_slice(&buf[..n]);
                take_messages(&mut pending, &ids);
            }
            _ => return,
        }
    }
    // Reset: first take what the receive buffer holds, without reading it (a read
    // would open the window and let more in).
    let mut last = usize::MAX;
    loop {
        let peek = tokio::time::timeout(Duration::from_millis(100), stream.peek(&mut buf)).await;
        let n = match peek {
            Ok(Ok(n)) => n,
            _ => 0,
        };
        if n == last {
            break;
        }
        last = n;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pending.extend_from_slice(&buf[..last]);
    take_messages(&mut pending, &ids);
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
}

/// Takes every whole `LEN SP MSG` message off the front of `pending`.
fn take_messages(pending: &mut Vec<u8>, ids: &Mutex<Vec<String>>) {
    loop {
        let Some(space) = pending.iter().position(|&b| b == b' ') else {
            return;
        };
        let len: usize = std::str::from_utf8(&pending[..space]).unwrap().parse().unwrap();
        if pending.len() < space + 1 + len {
            return;
        }
        let msg = &pending[space + 1..space + 1 + len];
        let v: serde_json::Value = serde_json::from_slice(msg).unwrap();
        ids.lock().unwrap().push(v["event"]["id"].as_str().unwrap().to_owned());
        pending.drain(..space + 1 + len);
    }
}

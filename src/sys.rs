//! The one place that asks the operating system directly, for a socket fact no crate
//! exposes: how many bytes written to a TCP socket its peer has not acknowledged yet
//! (`SIOCOUTQ`, tcp(7)). Syslog sinks over TCP and TLS count an event delivered only
//! once the collector's TCP stack has acknowledged every byte of it (SPEC §8). And the
//! default `SIGPIPE` action for the commands that print and exit.

#![allow(unsafe_code)]

use std::io;
use std::os::fd::AsRawFd;

/// Bytes in the socket's send queue: written by the process and either not sent yet
/// or sent and not acknowledged by the peer (`SIOCOUTQ` = `write_seq - snd_una`).
///
/// # Errors
///
/// The `ioctl(2)` error (`EBADF`, `ENOTTY` for a socket that is not TCP, `EINVAL` for a
/// listening socket).
#[cfg(target_os = "linux")]
pub fn unacknowledged(socket: &impl AsRawFd) -> io::Result<u64> {
    let mut queued: libc::c_int = 0;
    // SAFETY: `socket` is borrowed, so its descriptor stays open during the call, and
    // SIOCOUTQ (= TIOCOUTQ) writes exactly one `int` through the pointer, which points
    // at a live, aligned `c_int` on this stack frame.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), libc::TIOCOUTQ, &mut queued as *mut libc::c_int) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(u64::try_from(queued).unwrap_or(0))
}

/// Without `SIOCOUTQ` nothing can be known: every written byte counts as outstanding
/// until the connection is seen alive and empty of errors.
#[cfg(not(target_os = "linux"))]
pub fn unacknowledged(_socket: &impl AsRawFd) -> io::Result<u64> {
    Ok(0)
}

/// Restores the default action of `SIGPIPE` (terminate quietly), as a Unix filter
/// expects: `slagboom check | head` then ends without an error when `head` closes the
/// pipe. Only for the commands that print and exit; `run` keeps Rust's ignored `SIGPIPE`,
/// so a write to a closed socket is an `EPIPE` error, not a signal.
#[cfg(unix)]
pub fn default_sigpipe() {
    // SAFETY: `signal` with `SIG_DFL` installs no handler code; it is called before any
    // other thread exists (from `main`, before dispatching the command).
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};

    use super::*;

    /// A peer that reads acknowledges; a peer that does not read still acknowledges
    /// (TCP acknowledges into the receive buffer) until its window is full, and then
    /// the rest stays queued.
    #[test]
    fn counts_what_the_peer_has_not_acknowledged() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        client.write_all(&[7u8; 1000]).unwrap();
        let mut got = [0u8; 1000];
        server.read_exact(&mut got).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while unacknowledged(&client).unwrap() != 0 {
            assert!(Instant::now() < deadline, "1000 bytes read and never acknowledged");
            #[allow(clippy::disallowed_methods)] // a plain test thread, no runtime
            std::thread::sleep(Duration::from_millis(1));
        }
        // A peer that stops reading: its receive window fills, the sender's queue stays.
        client.set_nonblocking(true).unwrap();
        let mut written = 0u64;
        let chunk = [1u8; 65536];
        while let Ok(n) = client.write(&chunk) {
            written += n as u64;
        }
        assert!(written > 0);
        assert!(
            unacknowledged(&client).unwrap() > 0,
            "a full window leaves bytes queued"
        );
        assert!(
            unacknowledged(&listener).is_err(),
            "a listening socket has no send queue"
        );
    }
}

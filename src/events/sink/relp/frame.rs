//! Sans-io RELP frames (rsyslog's Reliable Event Logging Protocol, as librelp speaks
//! it):
//!
//! ```text
//! RELP-FRAME = TXNR SP COMMAND SP DATALEN [SP DATA] TRAILER
//! TXNR       = 1*9DIGIT          ; 1 .. 999,999,999, then back to 1 (0: serverclose)
//! COMMAND    = 1*32ALPHA         ; open, syslog, close, rsp, serverclose
//! DATALEN    = 1*9DIGIT          ; bytes of DATA; 0: no SP, no DATA
//! TRAILER    = LF
//! ```
//!
//! [`parse`] reads one frame from the front of the bytes a collector sent: it answers
//! "more bytes" until the frame is whole, then the frame and its length, the same for
//! every longer input; a malformed frame is an error as soon as the byte that shows it
//! has arrived. [`encode`] writes one frame. Responses (`rsp`) carry a status code
//! first (`200 OK`), which [`Frame::status`] reads.

use std::fmt;

/// Largest TXNR before it wraps to 1.
pub const MAX_TXNR: u32 = 999_999_999;
/// Largest DATA accepted from a collector (librelp's default limit is 128 KiB).
pub const MAX_DATA: usize = 128 * 1024;
const MAX_DIGITS: usize = 9;
const MAX_COMMAND: usize = 32;

/// One frame read from a collector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<'a> {
    pub txnr: u32,
    pub command: &'a str,
    pub data: &'a [u8],
}

/// Why bytes are not a RELP frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// TXNR missing, not decimal, or longer than 9 digits.
    Txnr,
    /// COMMAND missing, not letters, or longer than 32.
    Command,
    /// DATALEN missing, not decimal, longer than 9 digits, or over [`MAX_DATA`].
    DataLen,
    /// A space is missing between the fields.
    Separator,
    /// The frame does not end with LF.
    Trailer,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Txnr => "bad RELP transaction number",
            Error::Command => "bad RELP command",
            Error::DataLen => "bad RELP data length",
            Error::Separator => "RELP fields not separated by a space",
            Error::Trailer => "RELP frame not ended by LF",
        })
    }
}

impl std::error::Error for Error {}

impl Frame<'_> {
    /// The status code at the start of an `rsp` frame's data (`200 OK` → 200).
    pub fn status(&self) -> Option<u16> {
        let digits = self.data.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits != 3 {
            return None;
        }
        std::str::from_utf8(&self.data[..3]).ok()?.parse().ok()
    }
}

/// Reads the frame at the front of `buf`: `Ok(None)` while it is incomplete,
/// `Ok(Some((frame, length)))` once it is whole.
///
/// # Errors
///
/// The first fault in the frame (see [`Error`]).
pub fn parse(buf: &[u8]) -> Result<Option<(Frame<'_>, usize)>, Error> {
    let mut at = 0;
    let Some(txnr) = number(buf, &mut at, Error::Txnr)? else {
        return Ok(None);
    };
    // TXNR 0 is what a collector puts on its unsolicited `serverclose`.
    if txnr > u64::from(MAX_TXNR) {
        return Err(Error::Txnr);
    }
    let start = at;
    while let Some(&b) = buf.get(at) {
        if b == b' ' {
            break;
        }
        if !b.is_ascii_alphabetic() || at - start >= MAX_COMMAND {
            return Err(Error::Command);
        }
        at += 1;
    }
    if at >= buf.len() {
        return Ok(None);
    }
    if at == start {
        return Err(Error::Command);
    }
    // Only ASCII letters were accepted: valid UTF-8.
    let command = std::str::from_utf8(&buf[start..at]).map_err(|_| Error::Command)?;
    at += 1;
    let Some(len) = number(buf, &mut at, Error::DataLen)? else {
        return Ok(None);
    };
    let len = usize::try_from(len)
        .ok()
        .filter(|l| *l <= MAX_DATA)
        .ok_or(Error::DataLen)?;
    // `number` stopped at the byte after the digits: SP (data follows) or LF.
    // A zero length may also be followed by SP then LF (librelp accepts both).
    let data_start = match buf.get(at - 1) {
        Some(b' ') => at,
        Some(b'\n') if len == 0 => return Ok(Some((frame(txnr, command, &[]), at))),
        _ => return Err(Error::Separator),
    };
    let end = data_start + len;
    match buf.get(end) {
        None => Ok(None),
        Some(b'\n') => Ok(Some((frame(txnr, command, &buf[data_start..end]), end + 1))),
        Some(_) => Err(Error::Trailer),
    }
}

fn frame<'a>(txnr: u64, command: &'a str, data: &'a [u8]) -> Frame<'a> {
    Frame {
        // Checked against MAX_TXNR by the caller.
        txnr: u32::try_from(txnr).unwrap_or(MAX_TXNR),
        command,
        data,
    }
}

/// Reads decimal digits then one terminator (SP, or LF for a data length); leaves `at`
/// after the terminator. `Ok(None)` when the bytes end first.
fn number(buf: &[u8], at: &mut usize, err: Error) -> Result<Option<u64>, Error> {
    let start = *at;
    let mut value = 0u64;
    loop {
        let Some(&b) = buf.get(*at) else {
            return Ok(None);
        };
        *at += 1;
        match b {
            b'0'..=b'9' if *at - start <= MAX_DIGITS => value = value * 10 + u64::from(b - b'0'),
            b' ' | b'\n' if *at - start > 1 => {
                if b == b'\n' && err == Error::Txnr {
                    return Err(Error::Separator);
                }
                return Ok(Some(value));
            }
            b' ' | b'\n' => return Err(err),
            b'0'..=b'9' => return Err(err),
            _ if *at - start > 1 => return Err(Error::Separator),
            _ => return Err(err),
        }
    }
}

/// Appends one frame to `out`.
pub fn encode(txnr: u32, command: &str, data: &[u8], out: &mut Vec<u8>) {
    let mut n = itoa::Buffer::new();
    out.extend_from_slice(n.format(txnr).as_bytes());
    out.push(b' ');
    out.extend_from_slice(command.as_bytes());
    out.push(b' ');
    out.extend_from_slice(n.format(data.len()).as_bytes());
    if !data.is_empty() {
        out.push(b' ');
        out.extend_from_slice(data);
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests;

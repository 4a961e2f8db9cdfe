//! Sans-io checker for the chunked transfer coding (RFC 9112 §7.1), used on request
//! bodies from clients and response bodies from origins alike.
//!
//! ```text
//! chunked-body   = *chunk last-chunk trailer-section CRLF
//! chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//! chunk-size     = 1*HEXDIG
//! last-chunk     = 1*("0") [ chunk-ext ] CRLF
//! chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//! chunk-ext-val  = token / quoted-string
//! trailer-section = *( field-line CRLF )        ; field-line: RFC 9112 §5
//! ```
//!
//! The body is relayed as it arrives, but only in pieces this checker has passed: a
//! framing line (chunk size, trailer field) is passed once it is complete and valid,
//! chunk data as soon as it is buffered. Nothing invalid is ever passed: no bare CR or
//! LF, no control character, no obs-fold line in the trailer section, no whitespace
//! the grammar does not allow, no size that overflows 64 bits. This closes the
//! "funky chunks" request-smuggling shapes, where a proxy and an origin read one body
//! differently (e.g. CVE-2025-55315).
//!
//! [`Decoder::step`] is handed the bytes buffered and not yet consumed, and answers
//! with how many of them may be relayed. It never looks at a byte twice: the state of a
//! half-read line is kept between calls, so the caller must hand the same unconsumed
//! bytes again, with more appended. Once it has answered an error it answers the same
//! error for ever; a fault is reported as soon as the byte that shows it is seen.

use std::fmt;

/// Longest chunk-size line or trailer field line, CRLF included (bytes).
pub const MAX_LINE: usize = 8 * 1024;
/// Largest trailer section, final CRLF included (bytes).
pub const MAX_TRAILER: usize = 64 * 1024;

/// What the checker allows the caller to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The first `n` bytes are checked (a framing line or chunk data): relay and
    /// consume them, then call again.
    Pass(usize),
    /// Every byte handed in was looked at and more are needed.
    NeedMore,
    /// The first `n` bytes complete the body; bytes after them belong to the next
    /// message.
    Done(usize),
}

/// Why a chunked body is refused. Each names the part of the grammar broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// chunk-size is missing, is not hexadecimal, or needs more than 64 bits.
    ChunkSize,
    /// chunk-ext does not follow the grammar (a bare CR, a control byte, a stray space).
    ChunkExtension,
    /// The line does not end in CRLF (a bare CR, or an LF without CR).
    LineEnd,
    /// chunk-data is not followed by CRLF.
    ChunkDataEnd,
    /// A trailer field line is malformed (obs-fold, no colon, space before the colon,
    /// a control byte in the value).
    TrailerField,
    /// A line is longer than [`MAX_LINE`], or the trailers longer than [`MAX_TRAILER`].
    TooLong,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::ChunkSize => "invalid chunk size",
            Error::ChunkExtension => "invalid chunk extension",
            Error::LineEnd => "chunk line not terminated by CRLF",
            Error::ChunkDataEnd => "chunk data not followed by CRLF",
            Error::TrailerField => "invalid trailer field",
            Error::TooLong => "chunk line or trailer section too long",
        })
    }
}

impl std::error::Error for Error {}

/// The checker's position in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// A chunk-size line, `scanned` bytes into it.
    SizeLine(SizeState),
    /// Chunk data, this many bytes still to come.
    Data(u64),
    /// The CRLF after chunk data (`true` once the CR was seen).
    DataEnd(bool),
    /// A trailer field line or the final empty line.
    TrailerLine(TrailerState),
    Done,
    Failed(Error),
}

/// Where a chunk-size line's scan stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SizeState {
    /// Hex digits so far (and the value they spell).
    Digits {
        count: usize,
        size: u64,
    },
    /// BWS after the size or an extension, before the next `;`.
    BwsBeforeSemi,
    /// After `;`, BWS then an extension name.
    NameStart,
    Name,
    /// BWS after a name, before `=` or `;`.
    AfterName,
    /// After `=`, BWS then a token or a quoted string.
    ValueStart,
    Token,
    Quoted,
    QuotedPair,
    /// After a closing quote.
    AfterQuoted,
    /// The CR that must be followed by LF.
    Cr,
}

/// Where a trailer line's scan stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TrailerState {
    Start,
    Name,
    Value,
    Cr,
    /// CR of the empty line that ends the body.
    EndCr,
}

/// Checks one chunked body. Create one per message.
#[derive(Debug, Clone)]
pub struct Decoder {
    part: Part,
    /// Bytes of the current line already scanned (they are still in the caller's buffer).
    scanned: usize,
    /// Size of the chunk whose size line is being read (set when its CRLF is reached).
    size: u64,
    /// Trailer bytes seen so far.
    trailer: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder {
            part: Part::SizeLine(SizeState::Digits { count: 0, size: 0 }),
            scanned: 0,
            size: 0,
            trailer: 0,
        }
    }

    /// True once the whole body, trailer section included, was passed.
    pub fn is_done(&self) -> bool {
        self.part == Part::Done
    }

    /// Looks at `buf` (the bytes buffered and not yet consumed; the first `scanned`
    /// of them were seen by an earlier call) and says how many may be relayed.
    ///
    /// # Errors
    ///
    /// The first fault in the body; the same error on every later call.
    pub fn step(&mut self, buf: &[u8]) -> Result<Step, Error> {
        match self.part {
            Part::Failed(e) => Err(e),
            Part::Done => Ok(Step::Done(0)),
            Part::Data(left) => {
                if buf.is_empty() {
                    return Ok(Step::NeedMore);
                }
                let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                // n <= left, so this cannot underflow.
                let left = left - n as u64;
                self.part = if left == 0 {
                    Part::DataEnd(false)
                } else {
                    Part::Data(left)
                };
                Ok(Step::Pass(n))
            }
            Part::DataEnd(cr) => self.data_end(buf, cr),
            Part::SizeLine(_) | Part::TrailerLine(_) => self.line(buf),
        }
        .inspect_err(|e| self.part = Part::Failed(*e))
    }

    fn data_end(&mut self, buf: &[u8], mut cr: bool) -> Result<Step, Error> {
        let mut i = usize::from(cr);
        while let Some(&b) = buf.get(i) {
            match (cr, b) {
                (false, b'\r') => cr = true,
                (true, b'\n') => {
                    self.start_line(Part::SizeLine(SizeState::Digits { count: 0, size: 0 }));
                    return Ok(Step::Pass(i + 1));
                }
                _ => return Err(Error::ChunkDataEnd),
            }
            i += 1;
        }
        self.part = Part::DataEnd(cr);
        Ok(Step::NeedMore)
    }

    fn start_line(&mut self, part: Part) {
        self.part = part;
        self.scanned = 0;
    }

    /// Scans a framing line from where the last call stopped.
    fn line(&mut self, buf: &[u8]) -> Result<Step, Error> {
        let mut i = self.scanned;
        while let Some(&b) = buf.get(i) {
            if i >= MAX_LINE {
                return Err(Error::TooLong);
            }
            let ended = match self.part {
                Part::SizeLine(s) => {
                    let next = size_byte(s, b)?;
                    self.part = Part::SizeLine(next);
                    if let SizeState::Digits { size, .. } = next {
                        self.size = size;
                    }
                    b == b'\n'
                }
                Part::TrailerLine(s) => {
                    self.trailer += 1;
                    if self.trailer > MAX_TRAILER {
                        return Err(Error::TooLong);
                    }
                    if s == TrailerState::EndCr && b == b'\n' {
                        self.start_line(Part::Done);
                        return Ok(Step::Done(i + 1));
                    }
                    self.part = Part::TrailerLine(trailer_byte(s, b)?);
                    b == b'\n'
                }
                // `line` is only called for the two line parts.
                _ => false,
            };
            i += 1;
            if ended {
                let next = match self.part {
                    Part::SizeLine(_) if self.size == 0 => Part::TrailerLine(TrailerState::Start),
                    Part::SizeLine(_) => Part::Data(self.size),
                    _ => Part::TrailerLine(TrailerState::Start),
                };
                self.start_line(next);
                return Ok(Step::Pass(i));
            }
        }
        self.scanned = i;
        Ok(Step::NeedMore)
    }
}

/// One byte of a chunk-size line. Returns the next state; an LF returns the state
/// unchanged after a CR (the caller ends the line).
fn size_byte(s: SizeState, b: u8) -> Result<SizeState, Error> {
    use SizeState::*;
    let ws = b == b' ' || b == b'\t';
    Ok(match (s, b) {
        (Cr, b'\n') => Cr,
        (Cr, _) => return Err(Error::LineEnd),
        (Digits { count, size }, _) if b.is_ascii_hexdigit() => {
            let digit = u64::from((b as char).to_digit(16).unwrap_or(0));
            let size = size
                .checked_mul(16)
                .and_then(|s| s.checked_add(digit))
                .ok_or(Error::ChunkSize)?;
            Digits { count: count + 1, size }
        }
        (Digits { count: 0, .. }, _) => return Err(Error::ChunkSize),
        (Digits { .. }, b'\r') => Cr,
        (Digits { .. }, b';') => NameStart,
        (Digits { .. }, _) if ws => BwsBeforeSemi,
        (Digits { .. }, b'\n') => return Err(Error::LineEnd),
        (Digits { .. }, _) => return Err(Error::ChunkSize),
        (BwsBeforeSemi, _) if ws => BwsBeforeSemi,
        (BwsBeforeSemi | AfterQuoted | Name | AfterName | Token, b';') => NameStart,
        (AfterQuoted | Name | Token, b'\r') => Cr,
        (NameStart, _) if ws => NameStart,
        (NameStart | Name, _) if is_tchar(b) => Name,
        (Name | AfterName, _) if ws => AfterName,
        (Name | AfterName, b'=') => ValueStart,
        (ValueStart, _) if ws => ValueStart,
        (ValueStart, b'"') => Quoted,
        (ValueStart | Token, _) if is_tchar(b) => Token,
        (Token | AfterQuoted, _) if ws => BwsBeforeSemi,
        (Quoted, b'"') => AfterQuoted,
        (Quoted, b'\\') => QuotedPair,
        (Quoted, _) if is_qdtext(b) => Quoted,
        (QuotedPair, _) if ws || is_vchar(b) || b >= 0x80 => Quoted,
        (_, b'\n') => return Err(Error::LineEnd),
        _ => return Err(Error::ChunkExtension),
    })
}

/// One byte of a trailer field line (RFC 9112 §5: `field-name ":" OWS field-value
/// OWS`, no obs-fold, no whitespace before the colon).
fn trailer_byte(s: TrailerState, b: u8) -> Result<TrailerState, Error> {
    use TrailerState::*;
    Ok(match (s, b) {
        (Start, b'\r') => EndCr,
        (Start | Name, _) if is_tchar(b) => Name,
        (Name, b':') => Value,
        (Value, b'\r') => Cr,
        (Value, _) if b == b' ' || b == b'\t' || is_vchar(b) || b >= 0x80 => Value,
        (Cr, b'\n') => Cr,
        (Cr | EndCr, _) | (_, b'\n') => return Err(Error::LineEnd),
        _ => return Err(Error::TrailerField),
    })
}

/// tchar (RFC 9110 §5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_vchar(b: u8) -> bool {
    (0x21..=0x7e).contains(&b)
}

/// qdtext (RFC 9110 §5.6.4): HTAB, SP, and visible characters but `"` and `\`.
fn is_qdtext(b: u8) -> bool {
    b == b'\t' || b == b' ' || b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b) || b >= 0x80
}

/// The outcome of checking a whole buffer: how many bytes the body takes, or why it is
/// refused, or `None` when it is incomplete. For tests, benchmarks and fuzzing: the
/// proxy relays step by step.
///
/// # Errors
///
/// The first fault, as [`Decoder::step`] reports it.
pub fn check(buf: &[u8]) -> Result<Option<usize>, Error> {
    let mut d = Decoder::new();
    let mut at = 0;
    loop {
        match d.step(&buf[at..])? {
            Step::Pass(n) => at += n,
            Step::Done(n) => return Ok(Some(at + n)),
            Step::NeedMore => return Ok(None),
        }
    }
}

#[cfg(test)]
mod tests;

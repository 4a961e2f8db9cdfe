//! Sans-io RADIUS accounting packets (RFC 2866, over RFC 2865's format):
//!
//! ```text
//! Code (1) | Identifier (1) | Length (2, 20..=4096) | Authenticator (16) | Attributes
//! Attribute = Type (1) | Length (1, >= 2, type and length included) | Value
//! ```
//!
//! [`parse`] reads one datagram: bytes past `Length` are padding and ignored (RFC 2865
//! §3); a `Length` past the datagram, or attributes that do not tile the packet
//! exactly, are malformed. [`Packet::verify`] checks an Accounting-Request's Request
//! Authenticator against a client's secret (RFC 2866 §3, in constant time);
//! [`response`] builds the Accounting-Response with its Response Authenticator.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

/// Accounting-Request (RFC 2866 §4.1).
pub const ACCOUNTING_REQUEST: u8 = 4;
/// Accounting-Response (RFC 2866 §4.2).
pub const ACCOUNTING_RESPONSE: u8 = 5;
/// Shortest and longest packets (RFC 2865 §3).
pub const MIN_LEN: usize = 20;
pub const MAX_LEN: usize = 4096;

const FRAMED_IP_ADDRESS: u8 = 8;
const CALLING_STATION_ID: u8 = 31;
const ACCT_STATUS_TYPE: u8 = 40;
/// RFC 6911.
const FRAMED_IPV6_ADDRESS: u8 = 168;

/// Why a datagram is not a RADIUS packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Shorter than 20 bytes.
    TooShort,
    /// `Length` under 20, over 4096, or past the datagram.
    Length,
    /// An attribute's length is under 2 or runs past the packet.
    Attribute,
    /// A known attribute has a value of the wrong size (e.g. an address not 4 bytes).
    Value(u8),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TooShort => f.write_str("shorter than a RADIUS header"),
            Error::Length => f.write_str("bad RADIUS length"),
            Error::Attribute => f.write_str("attribute runs past the packet"),
            Error::Value(t) => write!(f, "attribute {t} has a value of the wrong size"),
        }
    }
}

impl std::error::Error for Error {}

/// A parsed packet, borrowing the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    pub code: u8,
    pub identifier: u8,
    pub authenticator: [u8; 16],
    /// The whole packet (`Length` bytes).
    bytes: &'a [u8],
}

/// Acct-Status-Type values (RFC 2866 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusType {
    Start,
    Stop,
    InterimUpdate,
    AccountingOn,
    AccountingOff,
    Other(u32),
}

/// What an Accounting-Request says about a session.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Accounting<'a> {
    pub status: Option<StatusType>,
    pub framed_ip: Option<Ipv4Addr>,
    pub framed_ipv6: Option<Ipv6Addr>,
    /// Calling-Station-Id, as sent (a MAC address on 802.1X networks, RFC 3580).
    pub calling_station: Option<&'a [u8]>,
}

/// Reads one datagram.
///
/// # Errors
///
/// See [`Error`].
pub fn parse(datagram: &[u8]) -> Result<Packet<'_>, Error> {
    if datagram.len() < MIN_LEN {
        return Err(Error::TooShort);
    }
    let len = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
    if !(MIN_LEN..=MAX_LEN).contains(&len) || len > datagram.len() {
        return Err(Error::Length);
    }
    let bytes = &datagram[..len];
    let mut at = MIN_LEN;
    while at < len {
        let attr_len = usize::from(*bytes.get(at + 1).ok_or(Error::Attribute)?);
        if attr_len < 2 || at + attr_len > len {
            return Err(Error::Attribute);
        }
        at += attr_len;
    }
    let mut authenticator = [0u8; 16];
    authenticator.copy_from_slice(&bytes[4..20]);
    Ok(Packet {
        code: bytes[0],
        identifier: bytes[1],
        authenticator,
        bytes,
    })
}

impl<'a> Packet<'a> {
    /// Every attribute as (type, value), in order.
    pub fn attributes(&self) -> impl Iterator<Item = (u8, &'a [u8])> + 'a {
        let bytes = self.bytes;
        let mut at = MIN_LEN;
        std::iter::from_fn(move || {
            // `parse` checked that the attributes tile the packet exactly.
            let kind = *bytes.get(at)?;
            let len = usize::from(*bytes.get(at + 1)?);
            let value = bytes.get(at + 2..at + len)?;
            at += len;
            Some((kind, value))
        })
    }

    /// True when this is an Accounting-Request whose Request Authenticator is
    /// MD5(Code + Identifier + Length + 16 zero octets + Attributes + secret)
    /// (RFC 2866 §3), compared in constant time.
    pub fn verify(&self, secret: &[u8]) -> bool {
        if self.code != ACCOUNTING_REQUEST {
            return false;
        }
        let mut md5 = Md5::new();
        md5.update(&self.bytes[..4]);
        md5.update([0u8; 16]);
        md5.update(&self.bytes[MIN_LEN..]);
        md5.update(secret);
        let want = md5.finalize();
        bool::from(want.as_slice().ct_eq(&self.authenticator))
    }

    /// The accounting attributes slagboom acts on.
    ///
    /// # Errors
    ///
    /// [`Error::Value`] when one of them has a value of the wrong size.
    pub fn accounting(&self) -> Result<Accounting<'a>, Error> {
        let mut out = Accounting::default();
        for (kind, value) in self.attributes() {
            match kind {
                ACCT_STATUS_TYPE => {
                    let v: [u8; 4] = value.try_into().map_err(|_| Error::Value(kind))?;
                    out.status = Some(match u32::from_be_bytes(v) {
                        1 => StatusType::Start,
                        2 => StatusType::Stop,
                        3 => StatusType::InterimUpdate,
                        7 => StatusType::AccountingOn,
                        8 => StatusType::AccountingOff,
                        other => StatusType::Other(other),
                    });
                }
                FRAMED_IP_ADDRESS => {
                    let v: [u8; 4] = value.try_into().map_err(|_| Error::Value(kind))?;
                    out.framed_ip = Some(Ipv4Addr::from(v));
                }
                FRAMED_IPV6_ADDRESS => {
                    let v: [u8; 16] = value.try_into().map_err(|_| Error::Value(kind))?;
                    out.framed_ipv6 = Some(Ipv6Addr::from(v));
                }
                CALLING_STATION_ID => out.calling_station = Some(value),
                _ => {}
            }
        }
        Ok(out)
    }
}

/// The Accounting-Response to `request`: no attributes, Response Authenticator =
/// MD5(Code + Identifier + Length + Request Authenticator + secret) (RFC 2866 §3).
pub fn response(request: &Packet<'_>, secret: &[u8]) -> [u8; MIN_LEN] {
    let mut out = [0u8; MIN_LEN];
    out[0] = ACCOUNTING_RESPONSE;
    out[1] = request.identifier;
    out[2..4].copy_from_slice(&(MIN_LEN as u16).to_be_bytes());
    let mut md5 = Md5::new();
    md5.update(&out[..4]);
    md5.update(request.authenticator);
    md5.update(secret);
    out[4..20].copy_from_slice(&md5.finalize());
    out
}

/// Builds an Accounting-Request with a correct Request Authenticator (for tests,
/// benchmarks and fuzzing): `attributes` are (type, value) pairs.
pub fn request(identifier: u8, attributes: &[(u8, &[u8])], secret: &[u8]) -> Vec<u8> {
    let mut out = vec![ACCOUNTING_REQUEST, identifier, 0, 0];
    out.extend_from_slice(&[0u8; 16]);
    for (kind, value) in attributes {
        out.push(*kind);
        out.push(u8::try_from(value.len() + 2).unwrap_or(u8::MAX));
        out.extend_from_slice(value);
    }
    let len = u16::try_from(out.len()).unwrap_or(u16::MAX);
    out[2..4].copy_from_slice(&len.to_be_bytes());
    let mut md5 = Md5::new();
    md5.update(&out);
    md5.update(secret);
    let auth = md5.finalize();
    out[4..20].copy_from_slice(&auth);
    out
}

#[cfg(test)]
mod tests;

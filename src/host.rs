//! `Host`: a destination name or address, normalised once or refused.
//!
//! Every host the proxy decides on (URI host, `Host` header, CONNECT target, TLS SNI,
//! rule entries, `dns_overrides` keys) goes through [`Host::parse`]: lowercase, trailing
//! dot removed, IDNA to ASCII (punycode), port stripped by [`Host::parse_authority`].
//! IP literals are accepted only in canonical form (dotted quad, RFC 5952), and names
//! that a resolver could read as a number (`127.1`, `0x7f.0.0.1`, `2130706433`) are
//! refused, so they never reach a resolver.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest name accepted (RFC 1035 limit, without the trailing dot).
const MAX_NAME: usize = 253;
/// Longest label accepted.
const MAX_LABEL: usize = 63;

/// A normalised destination host.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Host {
    text: Box<str>,
    ip: Option<IpAddr>,
}

/// Why a host was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("empty host")]
    Empty,
    #[error("host is longer than 253 characters")]
    TooLong,
    #[error("host label is empty or longer than 63 characters")]
    BadLabel,
    #[error("host contains a character that is not allowed: {0:?}")]
    BadChar(char),
    #[error("IP address is not in canonical form")]
    NonCanonicalIp,
    #[error("host is not a valid internationalised domain name")]
    Idna,
    #[error("bad port")]
    BadPort,
}

impl Host {
    /// Parses a bare host (no port): a name, a canonical IPv4 literal, or an IPv6 literal
    /// with or without brackets.
    pub fn parse(input: &str) -> Result<Host, HostError> {
        if input.is_empty() {
            return Err(HostError::Empty);
        }
        if let Some(inner) = input.strip_prefix('[') {
            let inner = inner.strip_suffix(']').ok_or(HostError::BadChar('['))?;
            return Self::parse_v6(inner);
        }
        if input.contains(':') {
            return Self::parse_v6(input);
        }
        let first = input.as_bytes()[0]; // non-empty: checked above
        if first.is_ascii_digit() {
            if let Ok(v4) = input.parse::<Ipv4Addr>() {
                if v4.to_string() == input {
                    return Ok(Host::from_ip(IpAddr::V4(v4)));
                }
                return Err(HostError::NonCanonicalIp);
            }
        }
        let name = if input.is_ascii() {
            Self::ascii_name(input)?
        } else {
            Self::idna_name(input)?
        };
        Ok(Host {
            text: name.into_boxed_str(),
            ip: None,
        })
    }

    /// Parses `host[:port]` (URI authority or `Host` header; IPv6 in brackets) and returns
    /// the host and the port when one was given.
    pub fn parse_authority(input: &str) -> Result<(Host, Option<u16>), HostError> {
        if input.starts_with('[') {
            let close = input.find(']').ok_or(HostError::BadChar('['))?;
            let host = Self::parse(&input[..=close])?;
            let rest = &input[close + 1..];
            if rest.is_empty() {
                return Ok((host, None));
            }
            let port = rest.strip_prefix(':').ok_or(HostError::BadPort)?;
            return Ok((host, Some(parse_port(port)?)));
        }
        match input.rsplit_once(':') {
            Some((host, _)) if host.contains(':') => Err(HostError::BadChar(':')),
            Some((host, port)) => Ok((Self::parse(host)?, Some(parse_port(port)?))),
            None => Ok((Self::parse(input)?, None)),
        }
    }

    /// A host for an address (as learnt from a socket or a CIDR rule).
    pub fn from_ip(ip: IpAddr) -> Host {
        Host {
            text: ip.to_string().into_boxed_str(),
            ip: Some(ip),
        }
    }

    /// The normalised text: a lowercase ASCII name, or the canonical address text
    /// (IPv6 without brackets).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The address, when the host is an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        self.ip
    }

    /// The name, when the host is not an IP literal.
    pub fn name(&self) -> Option<&str> {
        match self.ip {
            None => Some(&self.text),
            Some(_) => None,
        }
    }

    fn parse_v6(inner: &str) -> Result<Host, HostError> {
        let v6: Ipv6Addr = inner.parse().map_err(|_| HostError::NonCanonicalIp)?;
        if v6.to_string() != inner {
            return Err(HostError::NonCanonicalIp);
        }
        Ok(Host::from_ip(IpAddr::V6(v6)))
    }

    fn ascii_name(input: &str) -> Result<String, HostError> {
        let trimmed = input.strip_suffix('.').unwrap_or(input);
        let lower = trimmed.to_ascii_lowercase();
        check_name(&lower)?;
        punycode_round_trips(&lower)?;
        Ok(lower)
    }

    fn idna_name(input: &str) -> Result<String, HostError> {
        let ascii = to_ascii(input)?;
        check_name(&ascii)?;
        // A Unicode name may carry ASCII labels that look like punycode and are not: the
        // result must be a name the ASCII path accepts as it is (a fixed point), or one
        // host would have two forms.
        punycode_round_trips(&ascii)?;
        Ok(ascii)
    }
}

/// IDNA to ASCII, without a trailing dot.
fn to_ascii(input: &str) -> Result<String, HostError> {
    let ascii = idna::domain_to_ascii(input).map_err(|_| HostError::Idna)?;
    Ok(match ascii.strip_suffix('.') {
        Some(s) => s.to_owned(),
        None => ascii,
    })
}

/// Punycode labels (`xn--`) of a lowercase ASCII name must decode, and re-encoding the
/// decoded name must give the name back.
fn punycode_round_trips(lower: &str) -> Result<(), HostError> {
    if !lower.split('.').any(|l| l.starts_with("xn--")) {
        return Ok(());
    }
    let (unicode, res) = idna::domain_to_unicode(lower);
    if res.is_err() || to_ascii(&unicode)? != lower {
        return Err(HostError::Idna);
    }
    Ok(())
}

fn parse_port(text: &str) -> Result<u16, HostError> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HostError::BadPort);
    }
    match text.parse::<u16>() {
        Ok(0) | Err(_) => Err(HostError::BadPort),
        Ok(port) => Ok(port),
    }
}

/// Checks a lowercase ASCII name: labels of `[a-z0-9_-]`, lengths, and no all-numeric
/// last label (a resolver would read the name as an IPv4 number).
fn check_name(name: &str) -> Result<(), HostError> {
    if name.is_empty() {
        return Err(HostError::Empty);
    }
    if name.len() > MAX_NAME {
        return Err(HostError::TooLong);
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > MAX_LABEL {
            return Err(HostError::BadLabel);
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_'))
        {
            return Err(HostError::BadChar(c));
        }
    }
    let last = name.rsplit('.').next().unwrap_or(name);
    let numeric = last.bytes().all(|b| b.is_ascii_digit())
        || (last.starts_with("0x") && last[2..].bytes().all(|b| b.is_ascii_hexdigit()));
    if numeric {
        return Err(HostError::NonCanonicalIp);
    }
    Ok(())
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Host({})", self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> String {
        Host::parse(s)
            .map(|h| h.to_string())
            .unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn normalises_names() {
        assert_eq!(ok("WWW.TikTok.COM"), "www.tiktok.com");
        assert_eq!(ok("www.tiktok.com."), "www.tiktok.com");
        assert_eq!(ok("bücher.example"), "xn--bcher-kva.example");
        assert_eq!(ok("XN--BCHER-KVA.example"), "xn--bcher-kva.example");
        assert_eq!(ok("ＴｉｋＴｏｋ.com"), "tiktok.com");
        assert_eq!(ok("_dmarc.example.org"), "_dmarc.example.org");
    }

    #[test]
    fn ip_literals_only_canonical() {
        assert_eq!(
            Host::parse("127.0.0.1").unwrap().ip(),
            Some("127.0.0.1".parse().unwrap())
        );
        assert_eq!(ok("[::1]"), "::1");
        assert_eq!(ok("2001:db8::1"), "2001:db8::1");
        for bad in [
            "127.1",
            "0x7f.0.0.1",
            "2130706433",
            "127.000.0.1",
            "[::0:1]",
            "[2001:DB8::1]",
            "1.2.3.4.5",
            "example.0x10",
        ] {
            assert!(Host::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn refuses_invalid() {
        for bad in [
            "",
            ".",
            "a..b",
            "exa mple.com",
            "a/b",
            "a@b",
            &"a".repeat(64),
            &format!("{}.com", "a.".repeat(130)),
            "xn--zz.example",
        ] {
            assert!(Host::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn authority_ports() {
        let (h, p) = Host::parse_authority("Origin.Test:8080").unwrap();
        assert_eq!((h.as_str(), p), ("origin.test", Some(8080)));
        let (h, p) = Host::parse_authority("[::1]:443").unwrap();
        assert_eq!((h.as_str(), p), ("::1", Some(443)));
        assert_eq!(Host::parse_authority("a.example").unwrap().1, None);
        for bad in [
            "a.example:",
            "a.example:0",
            "a.example:65536",
            "a.example:+1",
            "[::1]x",
            "::1:443",
        ] {
            assert!(Host::parse_authority(bad).is_err(), "{bad} accepted");
        }
    }
}

#[cfg(test)]
mod fuzz_regressions {
    use super::*;

    /// Found by the `authority` fuzz target: a Unicode label beside an ASCII label that
    /// looks like punycode and is not was accepted, normalised to a name the ASCII path
    /// refuses. Every accepted host is now a fixed point of normalisation.
    #[test]
    fn a_fake_punycode_label_beside_unicode_is_refused() {
        let input = "\u{6f0e}.xn--xn--bccjcher0xvpAlmcbcher0xvpAbccjcher0xvpAlmcbcHttt-bch";
        assert_eq!(Host::parse(input), Err(HostError::Idna));
        for ok in ["b\u{fc}cher.example", "xn--bcher-kva.example", "WWW.Example.ORG."] {
            let h = Host::parse(ok).unwrap();
            assert_eq!(Host::parse(h.as_str()), Ok(h.clone()), "{ok}");
        }
    }
}

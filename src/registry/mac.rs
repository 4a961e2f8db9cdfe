//! MAC addresses as the registry and RADIUS accounting write them (SPEC §4, §13):
//! `aa:bb:cc:dd:ee:ff`, `AA-BB-CC-DD-EE-FF`, `aabb.ccdd.eeff`, or twelve bare hex
//! digits (some NAS send `Calling-Station-Id` so), any case. One type, compared as
//! bytes, printed in lowercase colon form (and in ECS's `AA-BB-CC-DD-EE-FF` form for
//! `source.mac`).

use std::fmt;

/// A 48-bit MAC address (IEEE 802).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// Parses any of the accepted spellings.
    ///
    /// # Errors
    ///
    /// A line saying which spellings are accepted.
    pub fn parse(text: &str) -> Result<Mac, String> {
        let t = text.trim();
        let b = t.as_bytes();
        let digits: Option<Vec<u8>> = match b.len() {
            17 if [b':', b'-'].contains(&b[2]) => {
                let sep = b[2];
                let ok = (0..17).all(|i| {
                    if i % 3 == 2 {
                        b[i] == sep
                    } else {
                        b[i].is_ascii_hexdigit()
                    }
                });
                ok.then(|| b.iter().copied().filter(|c| *c != sep).collect())
            }
            14 => {
                let ok = (0..14).all(|i| {
                    if i % 5 == 4 {
                        b[i] == b'.'
                    } else {
                        b[i].is_ascii_hexdigit()
                    }
                });
                ok.then(|| b.iter().copied().filter(|c| *c != b'.').collect())
            }
            12 if b.iter().all(u8::is_ascii_hexdigit) => Some(b.to_vec()),
            _ => None,
        };
        let digits = digits.ok_or_else(|| {
            format!("MAC address {t:?} must be aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF or aabb.ccdd.eeff")
        })?;
        let mut out = [0u8; 6];
        // Twelve hex digits, checked above.
        hex::decode_to_slice(&digits, &mut out).map_err(|_| format!("MAC address {t:?} is not hexadecimal"))?;
        Ok(Mac(out))
    }

    /// ECS `source.mac` form: `AA-BB-CC-DD-EE-FF`.
    pub fn ecs(&self) -> String {
        let o = self.0;
        format!(
            "{:02X}-{:02X}-{:02X}-{:02X}-{:02X}-{:02X}",
            o[0], o[1], o[2], o[3], o[4], o[5]
        )
    }
}

impl fmt::Display for Mac {
    /// Lowercase colon form, `aa:bb:cc:dd:ee:ff`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            o[0], o[1], o[2], o[3], o[4], o[5]
        )
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mac({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_is_the_same_address() {
        let want = Mac([0xaa, 0xbb, 0xcc, 0x0d, 0xee, 0xff]);
        for text in [
            "aa:bb:cc:0d:ee:ff",
            "AA:BB:CC:0D:EE:FF",
            "AA-BB-CC-0D-EE-FF",
            "aa-bb-cc-0d-ee-ff",
            "aabb.cc0d.eeff",
            "AABB.CC0D.EEFF",
            "aabbcc0deeff",
            " aa:bb:cc:0d:ee:ff ",
        ] {
            assert_eq!(Mac::parse(text), Ok(want), "{text}");
        }
        assert_eq!(want.to_string(), "aa:bb:cc:0d:ee:ff");
        assert_eq!(want.ecs(), "AA-BB-CC-0D-EE-FF");
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for text in [
            "",
            "aa:bb:cc:dd:ee",
            "aa:bb:cc:dd:ee:ff:00",
            "aa:bb-cc:dd:ee:ff",
            "aa:bb:cc:dd:ee:fg",
            "aabb.ccdd.eef",
            "aabb:ccdd:eeff",
            "aabbccddeef",
            "aabbccddeeffa",
            "a:bb:cc:dd:ee:fff",
            "ééééééééé",
        ] {
            assert!(Mac::parse(text).is_err(), "{text}");
        }
    }
}

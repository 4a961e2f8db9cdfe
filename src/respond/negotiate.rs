//! Content negotiation for the block page: the language from `Accept-Language`
//! (RFC 9110 §12.5.4) and JSON or HTML from `Accept` (RFC 9110 §12.5.1). The parsers
//! never panic and look at no more than the first 32 list elements of a header.

use super::block_page::Lang;

/// Header list elements beyond this many are ignored, which bounds the work
/// done for hostile headers.
const MAX_LIST_ELEMENTS: usize = 32;

/// `q=1` expressed in thousandths, the resolution of an HTTP `qvalue`.
const Q_ONE: u16 = 1000;

impl Lang {
    /// Picks the language from an `Accept-Language` header (RFC 9110
    /// §12.5.4).
    ///
    /// The header is a weighted list; `q=0` means "not acceptable". Language
    /// ranges are matched on their primary subtag, case-insensitively
    /// (`nl-BE` -> [`Lang::Nl`], `fr-BE` -> [`Lang::Fr`], `de-DE` ->
    /// [`Lang::De`], `en-GB` -> [`Lang::En`]); `*` is ignored. The supported
    /// language with the highest q wins, ties going to the one listed first.
    /// Malformed list elements (bad language range, bad or overly precise q
    /// value, parameters other than `q`) are skipped. English is returned
    /// when nothing matches or the header is absent or malformed.
    ///
    /// Never panics; only the first 32 list elements are examined.
    pub fn negotiate(accept_language: Option<&str>) -> Lang {
        let Some(header) = accept_language else {
            return Lang::En;
        };
        let mut best: Option<(u16, Lang)> = None;
        for element in header.split(',').take(MAX_LIST_ELEMENTS) {
            let Some((range, q)) = parse_language_element(element) else {
                continue;
            };
            if q == 0 {
                continue;
            }
            let Some(lang) = primary_subtag(range).and_then(Lang::from_primary_subtag) else {
                continue;
            };
            let better = match best {
                Some((best_q, _)) => q > best_q,
                None => true,
            };
            if better {
                best = Some((q, lang));
            }
        }
        match best {
            Some((_, lang)) => lang,
            None => Lang::En,
        }
    }
}

/// True when the Accept header prefers JSON: it lists application/json (or
/// application/*+json) with q>0 and does not rank text/html higher. Absent
/// header -> false.
///
/// The rank of `text/html` is the q of the most specific range that matches
/// it (`text/html`, then `text/*`, then `*/*`; 0 when none does). Wildcards
/// never count as listing JSON. On equal q, JSON wins. Malformed list
/// elements are skipped and only the first 32 are examined.
pub fn wants_json(accept: Option<&str>) -> bool {
    let Some(header) = accept else {
        return false;
    };
    let mut json_q: u16 = 0;
    let mut html_exact: Option<u16> = None;
    let mut html_text_any: Option<u16> = None;
    let mut html_any: Option<u16> = None;
    for element in SplitUnquoted::new(header, b',').take(MAX_LIST_ELEMENTS) {
        let Some(range) = parse_media_range(element) else {
            continue;
        };
        if range.is_json() {
            json_q = json_q.max(range.q);
            continue;
        }
        let slot = if range.kind == "*" {
            // `*/*`; parse_media_range rejects `*/sub`.
            &mut html_any
        } else if range.kind.eq_ignore_ascii_case("text") {
            if range.subtype == "*" {
                &mut html_text_any
            } else if range.subtype.eq_ignore_ascii_case("html") {
                &mut html_exact
            } else {
                continue;
            }
        } else {
            continue;
        };
        // Repeated ranges: keep the most favourable rank for HTML.
        *slot = Some(slot.map_or(range.q, |q| q.max(range.q)));
    }
    let html_q = html_exact.or(html_text_any).or(html_any).unwrap_or(0);
    json_q > 0 && json_q >= html_q
}

/// Trims optional whitespace (SP / HTAB) as defined by RFC 9110 §5.6.3.
fn trim_ows(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t')
}

/// Parses one `Accept-Language` list element into its language range and q
/// (in thousandths). `None` for empty or malformed elements.
fn parse_language_element(element: &str) -> Option<(&str, u16)> {
    let mut parts = element.split(';');
    let range = trim_ows(parts.next()?);
    if range.is_empty() {
        return None;
    }
    let mut q = None;
    for param in parts {
        let (name, value) = param.split_once('=')?;
        if q.is_some() || !trim_ows(name).eq_ignore_ascii_case("q") {
            return None;
        }
        q = Some(parse_qvalue(trim_ows(value))?);
    }
    Some((range, q.unwrap_or(Q_ONE)))
}

/// Returns the primary subtag of a well-formed language range
/// (`1*8ALPHA *("-" 1*8alphanum)`, RFC 4647 §2.1). `*` and anything else
/// yield `None`.
fn primary_subtag(range: &str) -> Option<&str> {
    let mut subtags = range.split('-');
    let primary = subtags.next()?;
    let well_formed = |s: &str, alpha_only: bool| {
        (1..=8).contains(&s.len())
            && s.bytes().all(|b| {
                if alpha_only {
                    b.is_ascii_alphabetic()
                } else {
                    b.is_ascii_alphanumeric()
                }
            })
    };
    if !well_formed(primary, true) {
        return None;
    }
    for subtag in subtags {
        if !well_formed(subtag, false) {
            return None;
        }
    }
    Some(primary)
}

/// Parses an RFC 9110 §12.4.2 `qvalue` into thousandths:
/// `( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`.
fn parse_qvalue(s: &str) -> Option<u16> {
    let (&first, rest) = s.as_bytes().split_first()?;
    let whole = match first {
        b'0' => 0,
        b'1' => Q_ONE,
        _ => return None,
    };
    let Some((&dot, fraction)) = rest.split_first() else {
        return Some(whole);
    };
    if dot != b'.' || fraction.len() > 3 {
        return None;
    }
    let mut thousandths: u16 = 0;
    let mut scale: u16 = 100;
    for &digit in fraction {
        if !digit.is_ascii_digit() {
            return None;
        }
        thousandths += u16::from(digit - b'0') * scale;
        scale /= 10;
    }
    if whole == Q_ONE && thousandths != 0 {
        return None;
    }
    Some(whole + thousandths)
}

/// RFC 9110 §5.6.2 token.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

#[derive(Debug)]
struct MediaRange<'a> {
    kind: &'a str,
    subtype: &'a str,
    q: u16,
}

impl MediaRange<'_> {
    /// `application/json` or `application/<something>+json`.
    fn is_json(&self) -> bool {
        if !self.kind.eq_ignore_ascii_case("application") {
            return false;
        }
        let sub = self.subtype;
        sub.eq_ignore_ascii_case("json")
            || (sub.len() > "+json".len()
                && sub
                    .get(sub.len() - "+json".len()..)
                    .is_some_and(|suffix| suffix.eq_ignore_ascii_case("+json")))
    }
}

/// Parses one `Accept` list element. The first `q` parameter is the weight;
/// other parameters are ignored. `None` for malformed elements.
fn parse_media_range(element: &str) -> Option<MediaRange<'_>> {
    let mut parts = SplitUnquoted::new(element, b';');
    let essence = trim_ows(parts.next()?);
    let (kind, subtype) = essence.split_once('/')?;
    if !is_token(kind) || !is_token(subtype) || (kind == "*" && subtype != "*") {
        return None;
    }
    let mut q = None;
    for param in parts {
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        if q.is_none() && trim_ows(name).eq_ignore_ascii_case("q") {
            q = Some(parse_qvalue(trim_ows(value))?);
        }
    }
    Some(MediaRange {
        kind,
        subtype,
        q: q.unwrap_or(Q_ONE),
    })
}

/// Splits on an ASCII separator that is not inside a quoted-string
/// (RFC 9110 §5.6.4), so `a;x="1,2",b` yields `a;x="1,2"` and `b`.
#[derive(Debug)]
struct SplitUnquoted<'a> {
    rest: Option<&'a str>,
    separator: u8,
}

impl<'a> SplitUnquoted<'a> {
    fn new(s: &'a str, separator: u8) -> Self {
        debug_assert!(separator.is_ascii() && separator != b'"' && separator != b'\\');
        SplitUnquoted {
            rest: Some(s),
            separator,
        }
    }
}

impl<'a> Iterator for SplitUnquoted<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let s = self.rest?;
        let mut in_quotes = false;
        let mut escaped = false;
        for (i, &b) in s.as_bytes().iter().enumerate() {
            if in_quotes {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_quotes = false;
                }
            } else if b == b'"' {
                in_quotes = true;
            } else if b == self.separator {
                // The separator is ASCII, so both indices are char boundaries.
                self.rest = s.get(i + 1..);
                return s.get(..i);
            }
        }
        self.rest = None;
        Some(s)
    }
}

// ---------------------------------------------------------------------------
// Escaping
// ---------------------------------------------------------------------------

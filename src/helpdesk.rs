//! The helpdesk page on the admin listener (SPEC §15): staff explain a block from the
//! event id on a block page, or ask what slagboom would decide for a device and a host.
//!
//! - `GET /helpdesk?q=…[&at=…][&lang=…]`: the page (nl, fr, de or en from
//!   `Accept-Language`, or `lang`). `q` is an event id, or a device id and a host
//!   (and optionally a time) separated by spaces.
//! - `GET /helpdesk/api/event/ID` and `GET /helpdesk/api/explain?device=…&host=…&at=…`:
//!   the same answers as JSON.
//!
//! Access is HTTP Basic (RFC 7617) with any user name and the password in
//! `[admin] helpdesk_token_file`, read on each request and compared in constant time.
//! Without that key every `/helpdesk` path is 404. Wrong credentials are 401 and count
//! against the source address like a proxy's (`auth_failures_per_minute`, then 429).
//! Each lookup is one operational log line naming the user.

pub mod answer;
pub mod page;
pub mod recent;
pub mod text;

use std::net::IpAddr;
use std::time::Instant;

use base64::Engine as _;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, StatusCode, Uri};
use subtle::ConstantTimeEq;

use crate::auth::AuthLimiter;
use crate::events::EventLog;
use crate::respond::Lang;
use crate::state::Snapshot;

use answer::Answer;

/// The longest query string the helpdesk reads, in bytes (414 beyond).
pub const MAX_QUERY_BYTES: usize = 4096;

/// What a helpdesk request gets: status, content type, body.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: String,
    /// `WWW-Authenticate` on a 401.
    pub challenge: bool,
}

impl Reply {
    fn text(status: StatusCode, body: &str) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.to_owned(),
            challenge: false,
        }
    }
}

/// The request facts the helpdesk reads.
#[derive(Debug)]
pub struct Ask<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap<HeaderValue>,
    pub peer: IpAddr,
}

/// Answers a request for `/helpdesk` or a path below it.
pub fn handle(snap: &Snapshot, events: &EventLog, limiter: &AuthLimiter, ask: &Ask<'_>) -> Reply {
    let Some(key) = snap
        .config
        .admin
        .helpdesk_token_file
        .as_deref()
        .and_then(|p| read_key(p, ask.peer))
    else {
        return Reply::text(StatusCode::NOT_FOUND, "not found\n");
    };
    if ask.method != Method::GET && ask.method != Method::HEAD {
        return Reply::text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    }
    let now = Instant::now();
    if limiter.is_limited(ask.peer, now) {
        return Reply::text(StatusCode::TOO_MANY_REQUESTS, "too many failed logins; wait a minute\n");
    }
    let Some(user) = authorized(ask.headers, &key) else {
        if ask.headers.contains_key("authorization") {
            limiter.record_failure(ask.peer, now);
            tracing::warn!(peer = %ask.peer, "helpdesk: wrong credentials");
        }
        let mut r = Reply::text(StatusCode::UNAUTHORIZED, "helpdesk credentials required\n");
        r.challenge = true;
        return r;
    };
    let query = ask.uri.query().unwrap_or("");
    if query.len() > MAX_QUERY_BYTES {
        return Reply::text(StatusCode::URI_TOO_LONG, "query too long\n");
    }
    let params = Params::parse(query);
    let lang = params
        .get("lang")
        .and_then(Lang::from_code)
        .unwrap_or_else(|| Lang::negotiate(header(ask.headers, "accept-language")));
    let path = ask.uri.path();
    let recent = events.recent();
    if let Some(id) = path.strip_prefix("/helpdesk/api/event/") {
        let id = percent_decode(id);
        let a = answer::event(snap, recent, &id, lang);
        log(&user, ask.peer, "event", &id, &a);
        return json(&a);
    }
    if path == "/helpdesk/api/explain" {
        let (device, host, at) = (params.get("device"), params.get("host"), params.get("at"));
        let a = match (device, host) {
            (Some(d), Some(h)) => answer::explain(snap, d, h, at, lang),
            _ => answer::invalid(query, lang),
        };
        log(
            &user,
            ask.peer,
            "explain",
            &format!("{} {}", device.unwrap_or(""), host.unwrap_or("")),
            &a,
        );
        return json(&a);
    }
    if path != "/helpdesk" && path != "/helpdesk/" {
        return Reply::text(StatusCode::NOT_FOUND, "not found\n");
    }
    let q = params.get("q").unwrap_or("").trim();
    let at = params.get("at").unwrap_or("").trim();
    let asked = page::Asked { q, at };
    let words: Vec<&str> = q.split_whitespace().collect();
    let a = match words.as_slice() {
        [] => None,
        [id] if recent::parse_id(id).is_some() => Some(("event", answer::event(snap, recent, id, lang))),
        [device, host] => Some(("explain", answer::explain(snap, device, host, Some(at), lang))),
        [device, host, time] => Some(("explain", answer::explain(snap, device, host, Some(time), lang))),
        _ => Some(("invalid", answer::invalid(q, lang))),
    };
    if let Some((kind, a)) = &a {
        log(&user, ask.peer, kind, q, a);
    }
    let a = a.map(|(_, a)| a);
    Reply {
        status: a.as_ref().map_or(StatusCode::OK, |a| status(a.status)),
        content_type: "text/html; charset=utf-8",
        body: page::html(lang, &asked, a.as_ref()),
        challenge: false,
    }
}

fn json(a: &Answer) -> Reply {
    Reply {
        status: status(a.status),
        content_type: "application/json",
        body: serde_json::to_string_pretty(&a.json).unwrap_or_default(),
        challenge: false,
    }
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::OK)
}

/// One line per lookup: who asked what, and what the answer was. Untrusted strings
/// are logged in their escaped (`Debug`) form.
fn log(user: &str, peer: IpAddr, kind: &str, asked: &str, a: &Answer) {
    let asked: String = asked.chars().take(200).collect();
    tracing::info!(
        user = ?user,
        peer = %peer,
        lookup = kind,
        asked = ?asked,
        outcome = a.outcome.as_str(),
        status = a.status,
        "helpdesk lookup"
    );
}

/// The key (read on each request, so a new password applies at once); `None` and a
/// warning when the file cannot be read or is empty, which disables the page.
fn read_key(path: &std::path::Path, peer: IpAddr) -> Option<Vec<u8>> {
    crate::config::read_secret(path)
        .map(|s| s.0)
        .map_err(|e| tracing::warn!(error = %e, %peer, "helpdesk key unusable: /helpdesk is off"))
        .ok()
}

/// The user name of valid `Authorization: Basic` credentials (RFC 7617 §2): any
/// user, the password compared with `key` in constant time.
pub fn authorized(headers: &HeaderMap<HeaderValue>, key: &[u8]) -> Option<String> {
    let value = headers.get("authorization")?.as_bytes();
    let (scheme, credentials) = value.split_at(value.iter().position(|b| *b == b' ')?);
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return None;
    }
    let credentials = credentials.trim_ascii();
    if credentials.len() > 1024 {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(credentials).ok()?;
    let colon = decoded.iter().position(|b| *b == b':')?;
    let (user, password) = (&decoded[..colon], &decoded[colon + 1..]);
    bool::from(password.ct_eq(key)).then(|| String::from_utf8_lossy(user).into_owned())
}

fn header<'a>(headers: &'a HeaderMap<HeaderValue>, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `application/x-www-form-urlencoded` query parameters; the first of each name wins.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(query: &str) -> Params {
        Params(
            form_urlencoded::parse(query.as_bytes())
                .take(16)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: &str) -> HeaderMap<HeaderValue> {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_str(auth).unwrap());
        h
    }

    fn basic(user_pass: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(user_pass))
    }

    #[test]
    fn basic_credentials_any_user_the_key_as_password() {
        let key = b"s3cret";
        assert_eq!(
            authorized(&headers(&basic("anna:s3cret")), key).as_deref(),
            Some("anna")
        );
        assert_eq!(authorized(&headers(&basic(":s3cret")), key).as_deref(), Some(""));
        assert_eq!(
            authorized(&headers(&basic("a:b:s3cret")), key),
            None,
            "the password is everything after the first colon"
        );
        assert_eq!(authorized(&headers(&basic("x:a:b")), b"a:b").as_deref(), Some("x"));
        assert_eq!(
            authorized(&headers(&basic("anna:s3cre")), key),
            None,
            "prefix of the key"
        );
        assert_eq!(authorized(&headers(&basic("anna:s3cret!")), key), None);
        assert_eq!(authorized(&headers(&basic("anna")), key), None, "no colon");
        let lower = format!("basic {}", base64::engine::general_purpose::STANDARD.encode("u:s3cret"));
        assert_eq!(
            authorized(&headers(&lower), key).as_deref(),
            Some("u"),
            "the scheme is case-insensitive"
        );
        for bad in [
            "Bearer s3cret",
            "Basic",
            "Basic !!!",
            "Basic    ",
            "s3cret",
            "Basic czNjcmV0",
        ] {
            assert_eq!(authorized(&headers(bad), key), None, "{bad}");
        }
        assert_eq!(authorized(&HeaderMap::new(), key), None);
    }

    #[test]
    fn every_prefix_of_a_credential_is_refused_without_panic() {
        let full = basic("agent:s3cret");
        for n in 0..full.len() {
            let prefix = &full[..n];
            assert_eq!(authorized(&headers(prefix), b"s3cret"), None, "{prefix:?}");
        }
        assert_eq!(authorized(&headers(&full), b"s3cret").as_deref(), Some("agent"));
    }

    #[test]
    fn query_parameters_are_decoded_and_bounded() {
        let p = Params::parse("q=fin-laptop-001+www.tiktok.com&at=2026-03-10T09%3A00&q=second&lang=nl");
        assert_eq!(p.get("q"), Some("fin-laptop-001 www.tiktok.com"));
        assert_eq!(p.get("at"), Some("2026-03-10T09:00"));
        assert_eq!(p.get("lang"), Some("nl"));
        assert_eq!(p.get("device"), None);
        let many: String = (0..100).map(|i| format!("k{i}=v&")).collect();
        assert_eq!(Params::parse(&many).0.len(), 16);
        assert_eq!(Params::parse("%ff%fe=%zz").get("\u{fffd}\u{fffd}"), Some("%zz"));
    }
}

//! Every answer slagboom makes itself, made in one place: the 200 of a CONNECT, and
//! every refusal: status line, `Proxy-Status` (RFC 9209), `Slagboom-Event-Id`,
//! `Proxy-Authenticate` for 407, the block page, and the TLS alert that stands for a
//! refusal once a tunnel's TLS has begun. An [`Answer`] names what to say; only this
//! module turns it into bytes.

pub mod advice_page;
pub mod block_page;
pub mod negotiate;

use crate::events::Reason;
use crate::tls::client_hello::{self, Alert};

pub use block_page::{BlockFacts, Lang};

/// The Content-Security-Policy of every block page (SPEC §7): nothing may load, only
/// the inline style applies.
pub const BLOCK_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'";
/// The advice page's: the block page's, and its form may post to its own origin.
pub const ADVICE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'";

/// The answer to a CONNECT that is let through (RFC 9110 §9.3.6).
pub const ESTABLISHED: &[u8] = b"HTTP/1.1 200 Connection established\r\n\r\n";

/// What a connection is answered, before the bytes exist.
#[derive(Debug, Clone)]
pub enum Answer<'a> {
    /// A refusal as an HTTP response.
    Refusal { reason: Reason, answering: Answering },
    /// The 403 block page of a plain-HTTP request.
    BlockPage {
        facts: BlockFacts<'a>,
        accept: Option<&'a str>,
        accept_language: Option<&'a str>,
        head: bool,
    },
    /// The 200 advice page of an intercepted `warn` (SPEC §7), with its one-time token.
    AdvicePage {
        facts: BlockFacts<'a>,
        token: &'a str,
        accept_language: Option<&'a str>,
        head: bool,
    },
    /// 303 See Other to `location` (RFC 9110 §15.4.4): the advice was acknowledged.
    SeeOther { location: &'a str },
    /// A fatal TLS alert, then close (a refusal once the client speaks TLS).
    Alert(Alert),
    /// Nothing more to say: close (the relay has answered, or there is no one to answer).
    Close,
    /// Nothing more to say, and the connection stays open for the next request.
    KeepOpen,
}

impl Answer<'_> {
    /// The answer's bytes (none for `Close` and `KeepOpen`).
    pub fn bytes(&self, event_id: &str) -> Vec<u8> {
        match self {
            Answer::Refusal { reason, answering } => refusal(*reason, event_id, *answering),
            Answer::BlockPage {
                facts,
                accept,
                accept_language,
                head,
            } => block_page(Reason::Policy, facts, *accept, *accept_language, *head),
            Answer::AdvicePage {
                facts,
                token,
                accept_language,
                head,
            } => advice_page(facts, token, *accept_language, *head),
            Answer::SeeOther { location } => see_other(location, event_id),
            Answer::Alert(alert) => client_hello::alert_record(*alert).to_vec(),
            Answer::Close | Answer::KeepOpen => Vec::new(),
        }
    }

    /// The HTTP status the answer carries, if it is an HTTP response.
    pub fn status(&self) -> Option<u16> {
        match self {
            Answer::Refusal { reason, answering } if answering.as_origin && status(*reason).0 == 407 => Some(403),
            Answer::Refusal { reason, .. } => Some(status(*reason).0),
            Answer::BlockPage { .. } => Some(403),
            Answer::AdvicePage { .. } => Some(200),
            Answer::SeeOther { .. } => Some(303),
            _ => None,
        }
    }

    /// True when the connection stays open after the answer.
    pub fn keeps_open(&self) -> bool {
        match self {
            Answer::Refusal { answering, .. } => answering.keep_alive,
            Answer::KeepOpen => true,
            _ => false,
        }
    }
}

/// Status code, reason phrase and RFC 9209 error type for a refusal.
pub fn status(reason: Reason) -> (u16, &'static str, &'static str) {
    match reason {
        Reason::Policy | Reason::DomainFronting | Reason::SniRequired => (403, "Forbidden", "http_request_denied"),
        Reason::DestinationProhibited => (403, "Forbidden", "destination_ip_prohibited"),
        Reason::PortNotAllowed | Reason::DeviceRetired | Reason::DeviceLost => {
            (403, "Forbidden", "http_request_denied")
        }
        Reason::SpoolFull => (503, "Service Unavailable", "proxy_internal_error"),
        Reason::ConnectionLimit => (503, "Service Unavailable", "connection_limit_reached"),
        Reason::CredentialsMissing | Reason::CredentialsInvalid => {
            (407, "Proxy Authentication Required", "http_request_denied")
        }
        Reason::RateLimited => (429, "Too Many Requests", "http_request_denied"),
        Reason::HeaderTooLarge => (431, "Request Header Fields Too Large", "http_request_error"),
        Reason::HeaderTimeout => (408, "Request Timeout", "http_request_error"),
        Reason::UpstreamDnsFailed => (502, "Bad Gateway", "dns_error"),
        Reason::UpstreamConnectFailed => (502, "Bad Gateway", "connection_refused"),
        Reason::UpstreamTimeout => (504, "Gateway Timeout", "connection_timeout"),
        Reason::BadRequest | Reason::ClientHelloTimeout | Reason::ClientHelloInvalid | Reason::NotTls => {
            (400, "Bad Request", "http_request_error")
        }
    }
}

/// A short plain-text explanation for refusals that have no block page.
fn text(reason: Reason) -> &'static str {
    match reason {
        Reason::Policy | Reason::DomainFronting | Reason::SniRequired => "This destination is blocked by policy.",
        Reason::DestinationProhibited => "This destination address is not allowed through the proxy.",
        Reason::PortNotAllowed => "Tunnels to this port are not allowed.",
        Reason::DeviceRetired => "This device is registered as retired.",
        Reason::DeviceLost => "This device is registered as lost.",
        Reason::SpoolFull => "The proxy cannot record events right now.",
        Reason::ConnectionLimit => "The proxy is at its connection limit.",
        Reason::CredentialsMissing => "Proxy authentication is required.",
        Reason::CredentialsInvalid => "The proxy credentials are not valid.",
        Reason::RateLimited => "Too many failed authentication attempts; try again in a minute.",
        Reason::HeaderTooLarge => "The request header is too large.",
        Reason::HeaderTimeout => "The request header was not received in time.",
        Reason::UpstreamDnsFailed => "The destination name could not be resolved.",
        Reason::UpstreamConnectFailed => "The destination refused or reset the connection.",
        Reason::UpstreamTimeout => "The destination did not answer in time.",
        Reason::BadRequest | Reason::ClientHelloTimeout | Reason::ClientHelloInvalid | Reason::NotTls => {
            "The request is malformed."
        }
    }
}

/// What an answer is for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Answering {
    /// The connection stays open after the answer (no `Connection: close`).
    pub keep_alive: bool,
    /// The request was `HEAD`: the answer has no content (RFC 9110 §9.3.2). Its
    /// `Content-Length` is still the length a `GET` would have been answered with
    /// (RFC 9110 §8.6).
    pub head: bool,
    /// The client does not know it talks to a proxy (transparent mode): a missing
    /// credential is 403, never a 407 challenge it could not answer.
    pub as_origin: bool,
}

/// A complete refusal response with a plain-text body (none for `HEAD`).
pub fn refusal(reason: Reason, event_id: &str, answering: Answering) -> Vec<u8> {
    let mut body = String::with_capacity(160);
    body.push_str("slagboom: ");
    body.push_str(text(reason));
    body.push_str("\nEvent ID: ");
    body.push_str(event_id);
    body.push('\n');
    response(
        reason,
        event_id,
        answering,
        Body {
            content_type: "text/plain; charset=utf-8",
            lang: None,
            csp: None,
            bytes: body.as_bytes(),
        },
    )
}

/// The 403 block page for a plain-HTTP request: HTML in the user's language, or JSON
/// when the client asks for it. A `HEAD` request gets the head alone. The connection
/// closes after it.
pub fn block_page(
    reason: Reason,
    facts: &BlockFacts<'_>,
    accept: Option<&str>,
    accept_language: Option<&str>,
    head: bool,
) -> Vec<u8> {
    let answering = Answering {
        keep_alive: false,
        head,
        ..Answering::default()
    };
    if negotiate::wants_json(accept) {
        let body = block_page::json(facts);
        response(
            reason,
            facts.event_id,
            answering,
            Body {
                content_type: "application/json",
                lang: None,
                csp: Some(BLOCK_CSP),
                bytes: body.as_bytes(),
            },
        )
    } else {
        let lang = Lang::negotiate(accept_language);
        let body = block_page::html(lang, facts);
        response(
            reason,
            facts.event_id,
            answering,
            Body {
                content_type: "text/html; charset=utf-8",
                lang: Some(lang),
                csp: Some(BLOCK_CSP),
                bytes: body.as_bytes(),
            },
        )
    }
}

/// The 200 advice page (SPEC §7) in the user's language; the connection closes after it.
pub fn advice_page(facts: &BlockFacts<'_>, token: &str, accept_language: Option<&str>, head: bool) -> Vec<u8> {
    let lang = Lang::negotiate(accept_language);
    let body = advice_page::html(lang, facts, token);
    let mut out = Vec::with_capacity(400 + body.len());
    let mut push = |s: &str| out.extend_from_slice(s.as_bytes());
    push("HTTP/1.1 200 OK\r\nSlagboom-Event-Id: ");
    push(facts.event_id);
    push("\r\nContent-Language: ");
    push(lang.code());
    push("\r\nVary: Accept-Language\r\nContent-Security-Policy: ");
    push(ADVICE_CSP);
    push("\r\nCache-Control: no-store\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: ");
    push(&body.len().to_string());
    push("\r\nConnection: close\r\n\r\n");
    if !head {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

/// 303 to `location` (an `https://` URL the proxy built itself), no content.
pub fn see_other(location: &str, event_id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(200 + location.len());
    let mut push = |s: &str| out.extend_from_slice(s.as_bytes());
    push("HTTP/1.1 303 See Other\r\nLocation: ");
    push(location);
    push("\r\nSlagboom-Event-Id: ");
    push(event_id);
    push("\r\nCache-Control: no-store\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    out
}

/// A response's content and what describes it.
struct Body<'a> {
    content_type: &'a str,
    lang: Option<Lang>,
    csp: Option<&'a str>,
    bytes: &'a [u8],
}

fn response(reason: Reason, event_id: &str, answering: Answering, body: Body<'_>) -> Vec<u8> {
    let Body {
        content_type,
        lang,
        csp,
        bytes: body,
    } = body;
    let (code, phrase, kind) = match status(reason) {
        (407, _, kind) if answering.as_origin => (403, "Forbidden", kind),
        other => other,
    };
    let mut out = Vec::with_capacity(320 + body.len());
    let mut push = |s: &str| out.extend_from_slice(s.as_bytes());
    push("HTTP/1.1 ");
    push(&code.to_string());
    push(" ");
    push(phrase);
    push("\r\nProxy-Status: slagboom; error=");
    push(kind);
    push("; details=\"");
    push(event_id);
    push("\"\r\nSlagboom-Event-Id: ");
    push(event_id);
    push("\r\n");
    if let Some(csp) = csp {
        push("Content-Security-Policy: ");
        push(csp);
        push("\r\n");
    }
    if code == 407 {
        push("Proxy-Authenticate: Basic realm=\"slagboom\"\r\n");
    }
    if code == 429 {
        push("Retry-After: 60\r\n");
    }
    if let Some(lang) = lang {
        push("Content-Language: ");
        push(lang.code());
        push("\r\nVary: Accept, Accept-Language\r\n");
    }
    push("Cache-Control: no-store\r\nContent-Type: ");
    push(content_type);
    push("\r\nContent-Length: ");
    push(&body.len().to_string());
    push(if answering.keep_alive {
        "\r\n\r\n"
    } else {
        "\r\nConnection: close\r\n\r\n"
    });
    if !answering.head {
        out.extend_from_slice(body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(bytes: &[u8]) -> String {
        let s = String::from_utf8_lossy(bytes);
        s.split("\r\n\r\n").next().unwrap_or_default().to_owned()
    }

    #[test]
    fn refusals_carry_event_id_and_proxy_status() {
        let r = refusal(Reason::DestinationProhibited, "ev-1", Answering::default());
        let h = head(&r);
        assert!(h.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{h}");
        assert!(h.contains("Proxy-Status: slagboom; error=destination_ip_prohibited; details=\"ev-1\""));
        assert!(h.contains("Slagboom-Event-Id: ev-1"));
        assert!(h.contains("Connection: close"));
        let keep = Answering {
            keep_alive: true,
            head: false,
            ..Answering::default()
        };
        let r = refusal(Reason::CredentialsMissing, "ev-2", keep);
        let h = head(&r);
        assert!(h.starts_with("HTTP/1.1 407 "));
        assert!(h.contains("Proxy-Authenticate: Basic realm=\"slagboom\""));
        assert!(!h.contains("Connection: close"));
    }

    #[test]
    fn body_length_matches() {
        for reason in [Reason::RateLimited, Reason::HeaderTooLarge, Reason::UpstreamTimeout] {
            let r = refusal(reason, "x", Answering::default());
            let text = String::from_utf8(r).unwrap();
            let (h, body) = text.split_once("\r\n\r\n").unwrap();
            let len: usize = h
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(len, body.len());
        }
    }

    /// RFC 9110 §9.3.2: no answer to `HEAD` has content, whatever its status; the
    /// length is the one a `GET` would have had.
    #[test]
    fn head_answers_have_no_content() {
        let facts = BlockFacts {
            event_id: "ev-3",
            action: "blocked",
            host: "www.tiktok.com",
            policy_id: "p",
            policy_title: "t",
            policy_reference: "r",
            ruleset: "tiktok",
            rule: "tiktok.com",
            contact: "helpdesk",
        };
        let pages = [
            (
                block_page(Reason::Policy, &facts, None, None, false),
                block_page(Reason::Policy, &facts, None, None, true),
            ),
            (
                block_page(Reason::Policy, &facts, Some("application/json"), None, false),
                block_page(Reason::Policy, &facts, Some("application/json"), None, true),
            ),
        ];
        let refusals = Reason::ALL.into_iter().map(|reason| {
            let keep = Answering {
                keep_alive: true,
                head: false,
                ..Answering::default()
            };
            let head = Answering {
                keep_alive: true,
                head: true,
                ..Answering::default()
            };
            (refusal(reason, "ev-4", keep), refusal(reason, "ev-4", head))
        });
        for (get, head_only) in pages.into_iter().chain(refusals) {
            let get = String::from_utf8(get).unwrap();
            let head_only = String::from_utf8(head_only).unwrap();
            let (get_head, get_body) = get.split_once("\r\n\r\n").unwrap();
            assert!(!get_body.is_empty());
            assert_eq!(head_only, format!("{get_head}\r\n\r\n"), "same head, no content");
            assert!(get_head.contains(&format!("Content-Length: {}", get_body.len())));
        }
    }
}

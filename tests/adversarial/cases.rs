//! The table of adversarial cases (SPEC §6 to §9), by kind. Each runs on every listener
//! it applies to; see `harness.rs` for what is checked.

use super::harness::*;
use crate::support::*;

const ACCESS_DENIED: u8 = 49;
const DECODE_ERROR: u8 = 50;
const INTERNAL_ERROR: u8 = 80;

fn bad(kind: &'static str, name: &'static str, request: &str) -> Case {
    Case::new(
        kind,
        name,
        text(request),
        Expect::Status(400, Some("http_request_error")),
    )
    .event("error", Some("bad_request"))
}

fn get_origin(extra: &str) -> String {
    format!("GET http://origin.test:{{http}}/ HTTP/1.1\r\nHost: origin.test:{{http}}\r\n{{priv}}{extra}\r\n")
}

fn post_origin(extra: &str, body: &str) -> String {
    format!("POST http://origin.test:{{http}}/ HTTP/1.1\r\nHost: origin.test:{{http}}\r\n{{priv}}{extra}\r\n{body}")
}

fn connect(target: &str) -> String {
    format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{{auth}}\r\n")
}

fn framing() -> Vec<Case> {
    let mut v = vec![
        bad(
            "framing",
            "content-length with transfer-encoding",
            &post_origin("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"),
        ),
        bad(
            "framing",
            "space before the colon of transfer-encoding",
            &post_origin("Transfer-Encoding : chunked\r\n", "0\r\n\r\n"),
        ),
        bad(
            "framing",
            "unknown transfer coding",
            &post_origin("Transfer-Encoding: xchunked\r\n", "0\r\n\r\n"),
        ),
        bad(
            "framing",
            "chunked not last",
            &post_origin("Transfer-Encoding: chunked, gzip\r\n", "0\r\n\r\n"),
        ),
        bad(
            "framing",
            "gzip then chunked",
            &post_origin("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"),
        ),
        bad(
            "framing",
            "transfer-encoding twice",
            &post_origin(
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                "0\r\n\r\n",
            ),
        ),
        bad(
            "framing",
            "transfer-encoding in HTTP/1.0",
            &post_origin("Transfer-Encoding: chunked\r\n", "0\r\n\r\n").replace("HTTP/1.1", "HTTP/1.0"),
        ),
        bad(
            "framing",
            "content-length twice",
            &post_origin("Content-Length: 5\r\nContent-Length: 5\r\n", "hello"),
        ),
        bad(
            "framing",
            "content-length list",
            &post_origin("Content-Length: 5, 5\r\n", "hello"),
        ),
        bad(
            "framing",
            "content-length with a sign",
            &post_origin("Content-Length: +5\r\n", "hello"),
        ),
        bad(
            "framing",
            "content-length overflow",
            &post_origin("Content-Length: 99999999999999999999\r\n", ""),
        ),
        bad("framing", "NUL in a field value", &get_origin("X-A: a\0b\r\n")),
        bad("framing", "bare CR in the head", &get_origin("X-A: a\rb\r\n")),
        bad("framing", "obs-fold", &get_origin("X-A: a\r\n folded\r\n")),
        bad("framing", "space in a field name", &get_origin("Bad Header: x\r\n")),
        bad("framing", "HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        bad("framing", "HTTP/0.9 request line", "GET /\r\n\r\n"),
        Case::new(
            "framing",
            "malformed chunk size",
            text(&post_origin(
                "Transfer-Encoding: chunked\r\n",
                "zz\r\nhello\r\n0\r\n\r\n",
            )),
            Expect::Status(400, Some("http_request_error")),
        )
        .event("error", Some("bad_request"))
        .origin(Origin::Any),
        Case::new(
            "framing",
            "unterminated quoted chunk extension",
            text(&post_origin(
                "Transfer-Encoding: chunked\r\n",
                "5;a=\"x\r\nhello\r\n0\r\n\r\n",
            )),
            Expect::Status(400, Some("http_request_error")),
        )
        .event("error", Some("bad_request"))
        .origin(Origin::Any),
    ];
    // A body cut short by the client: the upstream is aborted, the client told.
    let mut abort = text(&post_origin("Content-Length: 100\r\n", "0123456789"));
    abort.push(Step::Shutdown);
    v.push(
        Case::new(
            "framing",
            "body shorter than its content-length",
            abort,
            Expect::Status(400, Some("http_request_error")),
        )
        .event("error", Some("bad_request"))
        .origin(Origin::Any),
    );
    v.push(
        Case::new(
            "framing",
            "pipelined request after a 407",
            text("GET http://origin.test:{http}/ HTTP/1.1\r\nHost: origin.test:{http}\r\n\r\nGET http://www.tiktok.com/ HTTP/1.1\r\nHost: www.tiktok.com\r\n{auth}\r\n"),
            Expect::Statuses(vec![407, 403]),
        )
        .event("blocked", Some("policy")),
    );
    v.push(
        Case::new(
            "framing",
            "a body that holds a request is never parsed as one",
            text("POST http://www.tiktok.com/ HTTP/1.1\r\nHost: www.tiktok.com\r\n{auth}Content-Length: 52\r\n\r\nGET http://origin.test:{http}/ HTTP/1.1\r\nHost: x\r\n\r\n"),
            Expect::Statuses(vec![403]),
        )
        .event("blocked", Some("policy")),
    );
    v.push(
        Case::new(
            "framing",
            "HEAD of a blocked page",
            text("HEAD http://www.tiktok.com/ HTTP/1.1\r\nHost: www.tiktok.com\r\n{auth}\r\n"),
            Expect::StatusNoBody(403),
        )
        .event("blocked", Some("policy")),
    );
    v
}

fn authority() -> Vec<Case> {
    vec![
        bad("authority", "CONNECT without a port", &connect("www.example.org")),
        bad(
            "authority",
            "CONNECT with userinfo",
            &connect("user@www.example.org:443"),
        ),
        bad("authority", "CONNECT to port 65536", &connect("www.example.org:65536")),
        bad(
            "authority",
            "CONNECT to a named port",
            &connect("www.example.org:https"),
        ),
        bad(
            "authority",
            "CONNECT to an unbracketed IPv6 literal",
            &connect("2001:db8::1:443"),
        ),
        bad(
            "authority",
            "ftp scheme",
            "GET ftp://origin.test/ HTTP/1.1\r\nHost: origin.test\r\n{priv}\r\n",
        ),
        bad(
            "authority",
            "https scheme in a GET",
            "GET https://www.tiktok.com/ HTTP/1.1\r\nHost: www.tiktok.com\r\n{auth}\r\n",
        ),
        bad(
            "authority",
            "origin-form at the explicit proxy",
            "GET / HTTP/1.1\r\nHost: www.tiktok.com\r\n{auth}\r\n",
        ),
        bad("authority", "two Host headers", &get_origin("Host: www.tiktok.com\r\n")),
        bad(
            "authority",
            "Host disagrees with the URI",
            "GET http://origin.test:{http}/ HTTP/1.1\r\nHost: www.tiktok.com\r\n{priv}\r\n",
        ),
        bad(
            "authority",
            "no Host header",
            "GET http://origin.test:{http}/ HTTP/1.1\r\n{priv}\r\n",
        ),
        bad("authority", "two Proxy-Authorization headers", &get_origin("{auth}")),
        Case::new(
            "authority",
            "CONNECT to port 0",
            text(&connect("www.example.org:0")),
            Expect::Refused,
        ),
        Case::new(
            "authority",
            "CONNECT to a port not in connect_ports",
            text(&connect("www.example.org:25")),
            Expect::Status(403, Some("http_request_denied")),
        )
        .event("refused", Some("port_not_allowed")),
        Case::new(
            "authority",
            "CONNECT to bracketed IPv6 loopback",
            text(&connect("[::1]:{tls}")),
            Expect::Status(403, Some("destination_ip_prohibited")),
        )
        .event("refused", Some("destination_prohibited")),
    ]
}

fn names() -> Vec<Case> {
    let label = "a".repeat(60);
    let long_blocked = format!("a{label}.{label}.{label}.{label}.tiktok.com");
    assert_eq!(long_blocked.len(), 255);
    let at_limit = &long_blocked[2..];
    assert_eq!(at_limit.len(), 253);
    let blocked = |name: &'static str, host: String| {
        Case::new(
            "names",
            name,
            text(&connect(&format!("{host}:443"))),
            Expect::Status(403, Some("http_request_denied")),
        )
        .event("blocked", Some("policy"))
    };
    let mut v = vec![
        blocked("upper case", "WWW.TIKTOK.COM".into()),
        blocked("trailing dot", "www.tiktok.com.".into()),
        blocked("253-character name under a blocked domain", at_limit.to_owned()),
        blocked("punycode of a blocked IDN", "xn--bcher-kva.example".into()),
        Case::new(
            "names",
            "255-character name",
            text(&connect(&format!("{long_blocked}:443"))),
            Expect::Refused,
        ),
        bad(
            "names",
            "64-character label",
            &connect(&format!("{}.tiktok.com:443", "a".repeat(64))),
        ),
        bad(
            "names",
            "non-canonical IPv6 literal",
            &connect("[::ffff:a9fe:a9fe]:443"),
        ),
        bad(
            "names",
            "IPv6 literal with leading zeros",
            &connect("[2001:0db8::0001]:443"),
        ),
        bad("names", "percent-encoded dots", &connect("www%2etiktok%2ecom:443")),
        bad(
            "names",
            "NUL inside a name",
            &connect("www.tiktok.com\0.example.org:443"),
        ),
        Case::new(
            "names",
            "full-width dots",
            text(&connect("www\u{ff0e}tiktok\u{ff0e}com:443")),
            Expect::Refused,
        ),
        Case::new(
            "names",
            "the Unicode form of a blocked IDN",
            text(&connect("b\u{fc}cher.example:443")),
            Expect::Refused,
        ),
    ];
    for (name, literal) in [
        ("short IPv4 literal", "127.1"),
        ("hex IPv4 literal", "0x7f.0.0.1"),
        ("decimal IPv4 literal", "2130706433"),
        ("octal IPv4 literal", "0177.0.0.1"),
        ("IPv4 literal with a leading zero", "127.000.0.1"),
    ] {
        v.push(bad("names", name, &connect(&format!("{literal}:{{tls}}"))));
    }
    v
}

fn ssrf() -> Vec<Case> {
    let prohibited = |name: &'static str, target: &str| {
        Case::new(
            "ssrf",
            name,
            text(&connect(target)),
            Expect::Status(403, Some("destination_ip_prohibited")),
        )
        .event("refused", Some("destination_prohibited"))
    };
    vec![
        prohibited("loopback outside allow_destinations", "127.0.0.2:{tls}"),
        prohibited("localhost at the proxy's own port", "localhost:{self}"),
        prohibited("cloud metadata address", "169.254.169.254:{tls}"),
        prohibited("CGNAT", "100.64.0.1:{tls}"),
        prohibited("0.0.0.0", "0.0.0.0:{tls}"),
        prohibited("link-local IPv6", "[fe80::1]:{tls}"),
        prohibited("IPv4-mapped metadata", "[::ffff:169.254.169.254]:{tls}"),
        prohibited("IPv4-compatible metadata", "[::a9fe:a9fe]:{tls}"),
        prohibited("NAT64 metadata", "[64:ff9b::a9fe:a9fe]:{tls}"),
        prohibited("6to4 metadata", "[2002:a9fe:a9fe::1]:{tls}"),
        prohibited("Teredo client metadata", "[2001:0:4136:e378:8000:63bf:5601:5601]:{tls}"),
        prohibited("a name resolving to the metadata address", "metadata.test:{tls}"),
        prohibited("a name resolving to CGNAT", "cgnat.test:{tls}"),
        prohibited("a name resolving to ::1", "v6loop.test:{tls}"),
        prohibited("a name resolving to mapped loopback", "mapped.test:{tls}"),
        prohibited("the proxy's own port", "127.0.0.1:{self}"),
        prohibited("the admin port", "127.0.0.1:{admin}"),
        Case::new(
            "ssrf",
            "plain HTTP to the proxy's own port",
            text("GET http://127.0.0.1:{self}/ HTTP/1.1\r\nHost: 127.0.0.1:{self}\r\n{auth}\r\n"),
            Expect::Status(403, Some("destination_ip_prohibited")),
        )
        .event("refused", Some("destination_prohibited")),
        Case::new(
            "ssrf",
            "plain HTTP to the admin port",
            text("GET http://127.0.0.1:{admin}/metrics HTTP/1.1\r\nHost: 127.0.0.1:{admin}\r\n{auth}\r\n"),
            Expect::Status(403, Some("destination_ip_prohibited")),
        )
        .event("refused", Some("destination_prohibited")),
    ]
}

fn identity() -> Vec<Case> {
    // 127.0.0.3 is the registry address of a covered device (fed-ip).
    let no_identity = |name: &'static str, header: &str| {
        Case::new(
            "identity",
            name,
            text(&format!(
                "GET http://www.tiktok.com/ HTTP/1.1\r\nHost: www.tiktok.com\r\nConnection: close\r\n{header}\r\n"
            )),
            Expect::Status(407, None),
        )
        .event("auth_failed", Some("credentials_missing"))
    };
    let invalid = |name: &'static str, value: &str, secret: &'static str| {
        Case::new(
            "identity",
            name,
            text(&format!(
                "GET http://www.tiktok.com/ HTTP/1.1\r\nHost: www.tiktok.com\r\nConnection: close\r\nProxy-Authorization: {value}\r\n\r\n"
            )),
            Expect::Status(407, None),
        )
        .event("auth_failed", Some("credentials_invalid"))
        .secret(secret)
    };
    vec![
        no_identity("X-Forwarded-For never identifies", "X-Forwarded-For: 127.0.0.3\r\n"),
        no_identity("Forwarded never identifies", "Forwarded: for=127.0.0.3\r\n"),
        no_identity("X-Real-IP never identifies", "X-Real-IP: 127.0.0.3\r\n"),
        no_identity(
            "Client-IP never identifies",
            "Client-IP: 127.0.0.3\r\nTrue-Client-IP: 127.0.0.3\r\n",
        ),
        invalid(
            "a wrong token",
            &basic("fed-cov", "SECRET-WRONG-TOKEN"),
            "SECRET-WRONG-TOKEN",
        ),
        invalid("another scheme", "Bearer SECRET-BEARER-VALUE", "SECRET-BEARER-VALUE"),
        invalid("base64 that is not", "Basic !!SECRET-NOT-B64!!", "SECRET-NOT-B64"),
        invalid(
            "no colon in the credentials",
            "Basic U0VDUkVULU5PLUNPTE9O",
            "SECRET-NO-COLON",
        ),
        // The token names a private device while the address is a covered device's:
        // the token wins (methods are tried in order), and the private device passes.
        Case::new(
            "identity",
            "a token of one device from another device's address",
            text("GET http://origin.test:{http}/ HTTP/1.1\r\nHost: origin.test:{http}\r\nConnection: close\r\n{priv}\r\n"),
            Expect::Status(200, None),
        )
        .from("127.0.0.3")
        .origin(Origin::Any)
        .event("allowed", None),
        Case::new(
            "identity",
            "the address alone identifies the covered device",
            text("GET http://www.tiktok.com/ HTTP/1.1\r\nHost: www.tiktok.com\r\n\r\n"),
            Expect::Status(403, Some("http_request_denied")),
        )
        .from("127.0.0.3")
        .event("blocked", Some("policy")),
    ]
}

/// ClientHello games and early data, with the hellos a real rustls client sends.
fn hellos(bench: &Bench) -> Vec<Case> {
    let hello = |name: &str| client_hello_bytes(&bench.pki, name);
    let fronted = |name: &'static str, bytes: Vec<Step>| {
        let mut steps = text(&connect("origin.test:{silent}"));
        steps.extend(bytes);
        Case::new("client_hello", name, steps, Expect::Alert(ACCESS_DENIED)).event("blocked", Some("domain_fronting"))
    };
    let forwarded = |name: &'static str, bytes: Vec<Step>| {
        let mut steps = text(&connect("www.example.org:{silent}"));
        steps.extend(bytes);
        Case::new("client_hello", name, steps, Expect::Forwarded).origin(Origin::Any)
    };
    let malformed = |name: &'static str, bytes: Vec<u8>, alert: u8| {
        let mut steps = text(&connect("www.example.org:{silent}"));
        steps.push(Step::Bytes(bytes));
        Case::new("client_hello", name, steps, Expect::Alert(alert)).event("error", Some("client_hello_invalid"))
    };
    let tiktok = hello("www.tiktok.com");
    let allowed = hello("www.example.org");
    let early = Step::Joined(connect("origin.test:{silent}"), tiktok.clone());
    let early_blocked = Step::Joined(connect("www.tiktok.com:443"), tiktok.clone());
    let no_sni = hello("127.0.0.1");
    let mut two_entries = no_sni.clone();
    with_extension(
        &mut two_entries,
        0,
        &server_name_list(&["www.example.org", "www.tiktok.com"]),
    );
    let mut two_extensions = allowed.clone();
    with_extension(&mut two_extensions, 0, &server_name_list(&["www.tiktok.com"]));
    let mut ech = allowed.clone();
    with_extension(&mut ech, 0xfe0d, &[0, 0, 1, 0, 1, 7, 0, 4, 1, 2, 3, 4, 0, 2, 9, 9]);
    let mut oversized = allowed.clone();
    oversized[3..5].copy_from_slice(&[0x48, 0x01]);
    let mut inconsistent = allowed.clone();
    let hs_len = u32::from_be_bytes([0, inconsistent[6], inconsistent[7], inconsistent[8]]) - 40;
    inconsistent[6..9].copy_from_slice(&hs_len.to_be_bytes()[1..]);
    let mut slow = text(&connect("www.example.org:{silent}"));
    slow.push(Step::Bytes(allowed[..7].to_vec()));
    slow.push(Step::Pause(1_300));
    let mut not_tls = text(&connect("www.example.org:{silent}"));
    not_tls.push(Step::Text("GET / HTTP/1.1\r\nHost: www.example.org\r\n\r\n".into()));
    let mut sslv2 = text(&connect("www.example.org:{silent}"));
    sslv2.push(Step::Bytes(vec![
        0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10,
    ]));
    vec![
        fronted(
            "blocked SNI, one byte per write",
            vec![Step::Trickle(tiktok.clone(), 1)],
        ),
        fronted(
            "blocked SNI over 16-byte records",
            vec![Step::Bytes(split_records(&tiktok, 16))],
        ),
        fronted(
            "blocked SNI over 1-byte records",
            vec![Step::Bytes(split_records(&tiktok, 1))],
        ),
        Case::new(
            "early_data",
            "a ClientHello in the CONNECT's segment is inspected",
            vec![early],
            Expect::Alert(ACCESS_DENIED),
        )
        .event("blocked", Some("domain_fronting")),
        Case::new(
            "early_data",
            "a blocked CONNECT with a ClientHello behind it",
            vec![early_blocked],
            Expect::Status(403, Some("http_request_denied")),
        )
        .event("blocked", Some("policy")),
        forwarded(
            "allowed SNI, one byte per write, byte-identical",
            vec![Step::Trickle(allowed.clone(), 1)],
        ),
        forwarded(
            "allowed SNI over 16-byte records, byte-identical",
            vec![Step::Bytes(split_records(&allowed, 16))],
        ),
        forwarded("no SNI", vec![Step::Bytes(no_sni)]),
        forwarded("ECH extension", vec![Step::Bytes(ech)]),
        forwarded(
            "TLS 1.3-only hello",
            vec![Step::Bytes(tls13_only_hello("www.example.org"))],
        ),
        malformed("two names in one SNI extension", two_entries, DECODE_ERROR),
        malformed("two SNI extensions", two_extensions, DECODE_ERROR),
        malformed("record longer than TLS allows", oversized, DECODE_ERROR),
        malformed(
            "handshake length inconsistent with its body",
            inconsistent,
            DECODE_ERROR,
        ),
        Case::new(
            "client_hello",
            "a ClientHello too slow",
            slow,
            Expect::Alert(INTERNAL_ERROR),
        )
        .event("error", Some("client_hello_timeout")),
        Case::new("client_hello", "not TLS after the 200", not_tls, Expect::ClosedAfter200)
            .event("error", Some("not_tls")),
        Case::new("client_hello", "an SSLv2-style hello", sslv2, Expect::ClosedAfter200)
            .event("error", Some("not_tls")),
    ]
}

fn resources() -> Vec<Case> {
    let mut slowloris = text("GET http://origin.test:{http}/ HTTP/1.1\r\nHost: origin.test:{http}\r\n");
    slowloris.push(Step::Pause(1_300));
    let huge = format!("X-Big: {}\r\n", "a".repeat(80 * 1024));
    vec![
        Case::new(
            "resources",
            "slowloris head",
            slowloris,
            Expect::Status(408, Some("http_request_error")),
        )
        .event("error", Some("header_timeout")),
        Case::new(
            "resources",
            "an 80 KiB head",
            text(&get_origin(&huge)),
            Expect::Status(431, Some("http_request_error")),
        )
        .event("error", Some("header_too_large")),
    ]
}

fn scripted(kind: &'static str, name: &'static str, path: &str, method: &str, expect: Expect) -> Case {
    let request = format!(
        "{method} http://origin.test:{{scripted}}{path} HTTP/1.1\r\nHost: origin.test:{{scripted}}\r\nConnection: close\r\n{{priv}}\r\n"
    );
    Case::new(kind, name, text(&request), expect).origin(Origin::Any)
}

/// What origins answer that no well-behaved origin would.
fn origins() -> Vec<Case> {
    vec![
        scripted(
            "origin",
            "103 Early Hints before the response",
            "/early-hints",
            "GET",
            Expect::Statuses(vec![103, 200]),
        )
        .event("allowed", None),
        scripted(
            "origin",
            "204 with a body",
            "/no-content-with-body",
            "GET",
            Expect::Statuses(vec![204]),
        )
        .absent("SMUGGLED")
        .event("allowed", None),
        scripted(
            "origin",
            "304 with a body",
            "/not-modified",
            "GET",
            Expect::Statuses(vec![304]),
        )
        .absent("SMUGGLED")
        .event("allowed", None),
        scripted(
            "origin",
            "HEAD answered with a body",
            "/early-hints",
            "HEAD",
            Expect::Statuses(vec![103, 200]),
        ),
        scripted(
            "origin",
            "Content-Length with chunked",
            "/length-and-chunked",
            "GET",
            Expect::Status(502, None),
        )
        .event("error", Some("upstream_connect_failed")),
        scripted(
            "origin",
            "a close-delimited body",
            "/close-delimited",
            "GET",
            Expect::CloseDelimited("the body runs until the close"),
        )
        .event("allowed", None),
        scripted(
            "origin",
            "a malformed chunk",
            "/bad-chunk",
            "GET",
            Expect::Statuses(vec![200]),
        )
        .absent("SMUGGLED"),
    ]
}

/// Reflected input on pages and in headers.
fn reflection() -> Vec<Case> {
    let blocked = |name: &'static str, request: &str| {
        Case::new(
            "reflection",
            name,
            text(request),
            Expect::Status(403, Some("http_request_denied")),
        )
        .event("blocked", Some("policy"))
        .absent("<script")
    };
    vec![
        blocked(
            "a script in the path",
            "GET http://www.tiktok.com/<script>alert(1)</script> HTTP/1.1\r\nHost: www.tiktok.com\r\n{auth}\r\n",
        ),
        blocked(
            "a script in the User-Agent",
            "GET http://www.tiktok.com/ HTTP/1.1\r\nHost: www.tiktok.com\r\nUser-Agent: <script>alert(1)</script>\r\n{auth}\r\n",
        ),
        blocked(
            "a script in Accept-Language",
            "GET http://www.tiktok.com/ HTTP/1.1\r\nHost: www.tiktok.com\r\nAccept-Language: <script>alert(1)</script>\r\n{auth}\r\n",
        ),
        blocked(
            "a script in the query, JSON asked for",
            "GET http://www.tiktok.com/?q=<script>alert(1)</script> HTTP/1.1\r\nHost: www.tiktok.com\r\nAccept: application/json\r\n{auth}\r\n",
        ),
        bad("reflection", "a script in Host", &get_origin("X-Dummy: 1\r\n").replace("Host: origin.test:{http}", "Host: <script>alert(1)</script>"))
            .absent("<script"),
        bad("reflection", "NUL in the path", "GET http://www.tiktok.com/\0x HTTP/1.1\r\nHost: www.tiktok.com\r\n{auth}\r\n").absent("\0"),
    ]
}

/// Appends a TLS extension to a ClientHello record (one record), fixing the lengths.
pub fn with_extension(hello: &mut Vec<u8>, kind: u16, data: &[u8]) {
    let mut at = 5 + 4 + 2 + 32;
    at += 1 + usize::from(hello[at]);
    at += 2 + usize::from(u16::from_be_bytes([hello[at], hello[at + 1]]));
    at += 1 + usize::from(hello[at]);
    let ext_len_at = at;
    let added = 4 + data.len();
    hello.extend_from_slice(&kind.to_be_bytes());
    hello.extend_from_slice(&(data.len() as u16).to_be_bytes());
    hello.extend_from_slice(data);
    let bump16 = |h: &mut Vec<u8>, i: usize| {
        let v = u16::from_be_bytes([h[i], h[i + 1]]) as usize + added;
        h[i..i + 2].copy_from_slice(&(v as u16).to_be_bytes());
    };
    bump16(hello, ext_len_at);
    bump16(hello, 3);
    let hs = u32::from_be_bytes([0, hello[6], hello[7], hello[8]]) as usize + added;
    hello[6..9].copy_from_slice(&(hs as u32).to_be_bytes()[1..]);
}

/// A server_name extension body listing `names` (RFC 6066 §3).
pub fn server_name_list(names: &[&str]) -> Vec<u8> {
    let mut list = Vec::new();
    for n in names {
        list.push(0);
        list.extend_from_slice(&(n.len() as u16).to_be_bytes());
        list.extend_from_slice(n.as_bytes());
    }
    let mut out = (list.len() as u16).to_be_bytes().to_vec();
    out.extend(list);
    out
}

/// A ClientHello from a rustls client that speaks TLS 1.3 only.
fn tls13_only_hello(name: &str) -> Vec<u8> {
    init_crypto();
    let cfg = rustls::ClientConfig::builder_with_protocol_versions(&[&rustls::version::TLS13])
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let server = rustls::pki_types::ServerName::try_from(name.to_owned()).unwrap();
    let mut conn = rustls::ClientConnection::new(std::sync::Arc::new(cfg), server).unwrap();
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).unwrap();
    }
    out
}

/// Every case.
pub fn all(bench: &Bench) -> Vec<Case> {
    let mut v = framing();
    v.extend(authority());
    v.extend(names());
    v.extend(ssrf());
    v.extend(identity());
    v.extend(hellos(bench));
    v.extend(resources());
    v.extend(origins());
    v.extend(reflection());
    v
}

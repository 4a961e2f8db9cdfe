use super::*;

const MAX: usize = 65_536;

/// Builds a ClientHello handshake message (header included).
#[derive(Clone)]
struct Builder {
    legacy_version: u16,
    session_id: Vec<u8>,
    cipher_suites: Vec<u8>,
    compression: Vec<u8>,
    /// None: no extensions block at all.
    extensions: Option<Vec<(u16, Vec<u8>)>>,
}

impl Builder {
    fn new() -> Self {
        Builder {
            legacy_version: 0x0303,
            session_id: vec![0xaa; 32],
            cipher_suites: vec![0x13, 0x01, 0x13, 0x02, 0xc0, 0x2f],
            compression: vec![0],
            extensions: Some(vec![
                (0x000a, vec![0, 4, 0, 0x1d, 0, 0x17]), // supported_groups
                (0x002b, vec![4, 3, 4, 3, 3]),          // supported_versions
            ]),
        }
    }

    fn ext(mut self, ty: u16, body: Vec<u8>) -> Self {
        self.extensions.get_or_insert_with(Vec::new).push((ty, body));
        self
    }

    fn sni(self, name: &[u8]) -> Self {
        let mut entry = vec![NAME_TYPE_HOST_NAME];
        entry.extend(u16be(name.len()));
        entry.extend_from_slice(name);
        self.ext(EXT_SERVER_NAME, prefixed16(&entry))
    }

    fn alpn(self, names: &[&[u8]]) -> Self {
        let mut list = Vec::new();
        for name in names {
            list.push(len8(name.len()));
            list.extend_from_slice(name);
        }
        self.ext(EXT_ALPN, prefixed16(&list))
    }

    fn ech(self) -> Self {
        self.ext(EXT_ENCRYPTED_CLIENT_HELLO, vec![0, 0, 1, 0, 1, 0x42, 0, 0, 0])
    }

    fn no_extensions(mut self) -> Self {
        self.extensions = None;
        self
    }

    /// The ClientHello body, without the handshake header.
    fn body(&self) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(self.legacy_version.to_be_bytes());
        b.extend((0u8..32).collect::<Vec<_>>());
        b.push(len8(self.session_id.len()));
        b.extend_from_slice(&self.session_id);
        b.extend(prefixed16(&self.cipher_suites));
        b.push(len8(self.compression.len()));
        b.extend_from_slice(&self.compression);
        if let Some(exts) = &self.extensions {
            let mut block = Vec::new();
            for (ty, body) in exts {
                block.extend(ty.to_be_bytes());
                block.extend(prefixed16(body));
            }
            b.extend(prefixed16(&block));
        }
        b
    }

    /// The handshake message.
    fn message(&self) -> Vec<u8> {
        handshake(&self.body())
    }

    /// The message in one record.
    fn record(&self) -> Vec<u8> {
        records(&self.message(), 1)
    }
}

fn len8(n: usize) -> u8 {
    assert!(n <= usize::from(u8::MAX));
    n as u8
}

fn u16be(n: usize) -> [u8; 2] {
    assert!(n <= usize::from(u16::MAX));
    (n as u16).to_be_bytes()
}

fn prefixed16(body: &[u8]) -> Vec<u8> {
    let mut v = u16be(body.len()).to_vec();
    v.extend_from_slice(body);
    v
}

fn handshake(body: &[u8]) -> Vec<u8> {
    assert!(body.len() < 1 << 24);
    let len = (body.len() as u32).to_be_bytes();
    let mut m = vec![HANDSHAKE_CLIENT_HELLO, len[1], len[2], len[3]];
    m.extend_from_slice(body);
    m
}

fn record_of(content_type: u8, fragment: &[u8]) -> Vec<u8> {
    let mut r = vec![content_type, 3, 1];
    r.extend(u16be(fragment.len()));
    r.extend_from_slice(fragment);
    r
}

/// Splits `message` into `n` handshake records of near-equal size.
fn records(message: &[u8], n: usize) -> Vec<u8> {
    let size = message.len().div_ceil(n);
    records_of_size(message, size)
}

/// Splits `message` into handshake records carrying `size` bytes each.
fn records_of_size(message: &[u8], size: usize) -> Vec<u8> {
    message
        .chunks(size)
        .flat_map(|c| record_of(CONTENT_TYPE_HANDSHAKE, c))
        .collect()
}

fn hello(server_name: Option<&str>, alpn: &[&str], ech: bool) -> ClientHello {
    ClientHello {
        server_name: server_name.map(str::to_owned),
        ech,
        alpn: alpn.iter().map(|s| (*s).to_owned()).collect(),
        legacy_version: 0x0303,
    }
}

/// Feeds every prefix of `input` and checks that the answers are
/// `NeedMore` up to some length and one fixed answer from there on.
/// Returns that length (`input.len() + 1` if never decided) and the
/// final answer.
fn prefixes(input: &[u8], max: usize) -> (usize, Result<Parsed, Error>) {
    let last = parse(input, max);
    let mut decided = None;
    for k in 0..=input.len() {
        let got = parse(&input[..k], max);
        match decided {
            None if got == Ok(Parsed::NeedMore) => {}
            None => {
                decided = Some(k);
                assert_eq!(got, last, "prefix {k} of {}", input.len());
            }
            Some(_) => assert_eq!(got, last, "prefix {k} of {}", input.len()),
        }
    }
    (decided.unwrap_or(input.len() + 1), last)
}

/// Checks a valid hello: `NeedMore` until exactly `needed` bytes, then `Done(want)`.
fn assert_valid(input: &[u8], needed: usize, want: &ClientHello) {
    let (at, got) = prefixes(input, MAX);
    assert_eq!(got, Ok(Parsed::Done(want.clone())));
    assert_eq!(at, needed);
}

/// Checks an invalid input: the error and the prefix length it is known at.
fn assert_error(input: &[u8], at: usize, want: Error) {
    let got = prefixes(input, MAX);
    assert_eq!(got, (at, Err(want)));
}

#[test]
fn sni_alpn_single_record() {
    let b = Builder::new().sni(b"www.example.com").alpn(&[b"h2", b"http/1.1"]);
    let input = b.record();
    let want = hello(Some("www.example.com"), &["h2", "http/1.1"], false);
    assert_valid(&input, input.len(), &want);
}

#[test]
fn sni_absent() {
    let input = Builder::new().alpn(&[b"h2"]).record();
    assert_valid(&input, input.len(), &hello(None, &["h2"], false));
}

#[test]
fn alpn_absent_and_order_kept() {
    let input = Builder::new().sni(b"a.b").record();
    assert_valid(&input, input.len(), &hello(Some("a.b"), &[], false));

    let input = Builder::new()
        .alpn(&[b"http/1.1", b"h2", b"\xc3\xa9t\xc3\xa9"])
        .record();
    let want = hello(None, &["http/1.1", "h2", "\u{e9}t\u{e9}"], false);
    assert_valid(&input, input.len(), &want);
}

#[test]
fn ech_flag() {
    let input = Builder::new().sni(b"public.example").ech().record();
    assert_valid(&input, input.len(), &hello(Some("public.example"), &[], true));
}

#[test]
fn legacy_version_and_no_extensions() {
    let mut b = Builder::new().no_extensions();
    b.legacy_version = 0x0301;
    b.session_id.clear();
    let input = b.record();
    let mut want = hello(None, &[], false);
    want.legacy_version = 0x0301;
    assert_valid(&input, input.len(), &want);
}

#[test]
fn split_over_two_and_three_records() {
    let b = Builder::new().sni(b"split.example").alpn(&[b"h2"]).ech();
    let want = hello(Some("split.example"), &["h2"], true);
    for n in [2, 3] {
        let input = records(&b.message(), n);
        assert_eq!(input.len(), b.message().len() + n * RECORD_HEADER_LEN);
        assert_valid(&input, input.len(), &want);
    }
}

#[test]
fn handshake_header_split_across_records() {
    let m = Builder::new().sni(b"hdr.example").message();
    for cut in 1..=5 {
        let mut input = record_of(CONTENT_TYPE_HANDSHAKE, &m[..cut]);
        input.extend(record_of(CONTENT_TYPE_HANDSHAKE, &m[cut..]));
        assert_valid(&input, input.len(), &hello(Some("hdr.example"), &[], false));
    }
}

#[test]
fn single_byte_records() {
    let b = Builder::new().sni(b"tiny.example").alpn(&[b"h2"]);
    let input = records_of_size(&b.message(), 1);
    assert_eq!(input.len(), b.message().len() * 6);
    assert_valid(&input, input.len(), &hello(Some("tiny.example"), &["h2"], false));
}

#[test]
fn trailing_data_is_ignored() {
    let b = Builder::new().sni(b"trail.example");
    let want = hello(Some("trail.example"), &[], false);
    let m = b.message();

    // Extra bytes in the same record, which is longer than the hello.
    let mut fragment = m.clone();
    fragment.extend_from_slice(b"\x16\x03\x03\x00\x01\x02extra");
    let input = record_of(CONTENT_TYPE_HANDSHAKE, &fragment);
    assert_valid(&input, RECORD_HEADER_LEN + m.len(), &want);

    // A later record, even one that would be wrong before the hello.
    let mut input = b.record();
    let needed = input.len();
    input.extend(record_of(23, b"application data"));
    input.extend_from_slice(b"GET / HTTP/1.1\r\n");
    assert_valid(&input, needed, &want);

    // Split hello, then trailing bytes in the last record.
    let mut input = records(&m, 2);
    let needed = input.len();
    input.extend(records(b"zz", 1));
    assert_valid(&input, needed, &want);
}

#[test]
fn not_tls() {
    for input in [
        &b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"[..],
        b"CONNECT example.com:443 HTTP/1.1\r\n\r\n",
        b"\x00\x00\x00\x00\x00\x00",
        b"\x80\x2e\x01\x03\x01", // SSLv2-style hello
        b"\x15\x03\x03\x00\x02\x02\x28",
    ] {
        assert_error(input, 1, Error::NotTls);
    }
    assert_eq!(parse(b"", MAX), Ok(Parsed::NeedMore));
}

#[test]
fn bad_record_headers() {
    let mut input = Builder::new().record();
    input[1] = 2;
    assert_error(&input, 2, Error::Invalid("unsupported record version"));

    let mut input = Builder::new().record();
    input[2] = 5;
    assert_error(&input, 3, Error::Invalid("unsupported record version"));

    for minor in 0..=4 {
        let mut input = Builder::new().record();
        input[2] = minor;
        assert_valid(&input, input.len(), &hello(None, &[], false));
    }

    let mut input = vec![22, 3, 1, 0, 0];
    input.extend(Builder::new().record());
    assert_error(&input, 5, Error::Invalid("empty handshake record"));

    let mut input = vec![22, 3, 1, 0x40, 0x01];
    input.extend(Builder::new().message());
    assert_error(&input, 5, Error::Invalid("record too long"));

    // Exactly 2^14 is fine, even though the hello is shorter.
    let mut fragment = Builder::new().message();
    let len = fragment.len();
    fragment.resize(MAX_FRAGMENT_LEN, 0);
    let input = record_of(CONTENT_TYPE_HANDSHAKE, &fragment);
    assert_valid(&input, RECORD_HEADER_LEN + len, &hello(None, &[], false));
}

#[test]
fn other_record_before_hello_is_complete() {
    let m = Builder::new().sni(b"x.example").message();
    let mut input = record_of(CONTENT_TYPE_HANDSHAKE, &m[..10]);
    let at = input.len() + 1;
    input.extend(record_of(20, &[1])); // change_cipher_spec
    input.extend(record_of(CONTENT_TYPE_HANDSHAKE, &m[10..]));
    let want = Error::Invalid("unexpected record type before end of client hello");
    assert_error(&input, at, want);

    let mut input = record_of(CONTENT_TYPE_HANDSHAKE, &m[..10]);
    let at = input.len() + 1;
    input.extend(alert_record(Alert::InternalError));
    assert_error(&input, at, want);

    let mut input = record_of(CONTENT_TYPE_HANDSHAKE, &m[..10]);
    let at = input.len() + 5;
    input.extend([22, 3, 3, 0, 0]);
    assert_error(&input, at, Error::Invalid("empty handshake record"));
}

#[test]
fn wrong_handshake_type() {
    let mut input = Builder::new().record();
    input[5] = 2; // server_hello
    let want = Error::Invalid("first handshake message is not a client hello");
    assert_error(&input, 6, want);

    // Detected from the first handshake byte, even in its own record.
    let m = Builder::new().message();
    let mut input = record_of(CONTENT_TYPE_HANDSHAKE, &[11]);
    input.extend(records(&m[1..], 1));
    assert_error(&input, 6, want);
}

#[test]
fn too_large_is_known_from_the_lengths() {
    // A declared handshake length beyond `max` is refused at the header.
    let input = [22, 3, 1, 0x40, 0, 1, 0x01, 0, 0];
    assert_error(&input, 9, Error::TooLarge);
    // The most that fits: 9 bytes of headers so far, 65 512 body bytes
    // and 3 more record headers (16 380 body bytes fit in this record).
    let input = [22, 3, 1, 0x40, 0, 1, 0, 0xff, 0xe8];
    assert_eq!(parse(&input, MAX), Ok(Parsed::NeedMore));
    let input = [22, 3, 1, 0x40, 0, 1, 0, 0xff, 0xe9];
    assert_eq!(parse(&input, MAX), Err(Error::TooLarge));

    let b = Builder::new().sni(b"big.example").ext(0x15, vec![0; 3000]);
    let want = hello(Some("big.example"), &[], false);
    let input = b.record();
    let needed = input.len();
    assert_eq!(prefixes(&input, needed), (needed, Ok(Parsed::Done(want.clone()))));
    assert_eq!(prefixes(&input, needed - 1), (9, Err(Error::TooLarge)));

    // Split records: the headers of further records count as well. At
    // the handshake header one more record header is certain (the body
    // does not fit in the first record); the third is known from the
    // second record's length.
    let m = b.message();
    let input = records(&m, 3);
    let needed = input.len();
    let first = m.len().div_ceil(3);
    assert_eq!(prefixes(&input, needed), (needed, Ok(Parsed::Done(want))));
    assert_eq!(prefixes(&input, needed - 6), (9, Err(Error::TooLarge)));
    let at = 2 * RECORD_HEADER_LEN + first;
    assert_eq!(prefixes(&input, needed - 1), (at, Err(Error::TooLarge)));

    // With 1-byte records the total is only known record by record.
    let small = Builder::new().sni(b"big.example");
    let m = small.message();
    let input = records_of_size(&m, 1);
    let needed = input.len();
    assert_eq!(
        prefixes(&input, needed).1,
        Ok(Parsed::Done(hello(Some("big.example"), &[], false)))
    );
    // One byte short: known at the header of the last-but-one record,
    // since the last one still needs a header of its own.
    let (at, got) = prefixes(&input, needed - 1);
    assert_eq!((at, got), (needed - 7, Err(Error::TooLarge)));
    // Once the handshake header is complete (4 records), the body and
    // one more record header are certain.
    let at_least = 4 * 6 + (m.len() - 4) + 5;
    assert_eq!(prefixes(&input, at_least - 1), (4 * 6, Err(Error::TooLarge)));
    // The next record header makes one more header certain.
    assert_eq!(prefixes(&input, at_least), (5 * 6 - 1, Err(Error::TooLarge)));
    assert_eq!(prefixes(&input, at_least + 5), (6 * 6 - 1, Err(Error::TooLarge)));
    assert_eq!(prefixes(&input, at_least - 1), (4 * 6, Err(Error::TooLarge)));
}

#[test]
fn too_large_when_max_is_reached() {
    let input = Builder::new().record();
    for max in 0..9 {
        let (_, got) = prefixes(&input, max);
        assert_eq!(got, Err(Error::TooLarge), "max {max}");
    }
    // Bytes past `max` are not looked at.
    assert_eq!(parse(b"\x16\x03\x01\x00\x02GET", 5), Err(Error::TooLarge));
    assert_eq!(parse(b"GET", 0), Err(Error::TooLarge));
}

#[test]
fn truncated_lengths() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (vec![0x03, 0x03], "truncated random"),
        (vec![0x03], "truncated legacy_version"),
        (Vec::new(), "truncated legacy_version"),
        (
            {
                let mut b = Builder::new().body();
                b.truncate(2 + 32 + 1 + 10);
                b
            },
            "truncated session_id",
        ),
    ];
    for (body, want) in cases {
        // The declared length is the body's: the structure overruns it.
        let input = records(&handshake(&body), 1);
        let (_, got) = prefixes(&input, MAX);
        assert_eq!(got, Err(Error::Invalid(want)));
    }

    // Each length field, in turn, made one larger than what encloses it.
    let b = Builder::new().sni(b"len.example").alpn(&[b"h2"]);
    let body = b.body();
    let sid = 2 + 32;
    let suites = sid + 1 + 32;
    let comp = suites + 2 + 6;
    let exts = comp + 1 + 1;
    let cases = [
        (sid, 200, "session_id too long"),
        (suites + 1, 0x41, "bad cipher_suites length"),
        (suites + 1, 7, "bad cipher_suites length"),
        (suites + 1, 0, "bad cipher_suites length"),
        (comp, 0, "empty compression_methods"),
        (comp, 0xff, "truncated compression_methods"),
        (exts + 1, body[exts + 1] + 1, "extensions overrun the client hello"),
        (exts + 1, body[exts + 1] - 1, "bytes after the extensions"),
        (exts + 2 + 2 + 1, 0xff, "extension overruns the extensions block"),
    ];
    for (offset, value, want) in cases {
        let mut body = body.clone();
        body[offset] = value;
        let input = records(&handshake(&body), 1);
        let (at, got) = prefixes(&input, MAX);
        assert_eq!(got, Err(Error::Invalid(want)), "offset {offset}");
        assert!(at <= RECORD_HEADER_LEN + 4 + offset + 1, "offset {offset}");
    }

    // A hello that stops in the middle of the extensions block.
    let mut body = b.body();
    body.truncate(body.len() - 3);
    let input = records(&handshake(&body), 1);
    let (_, got) = prefixes(&input, MAX);
    assert!(matches!(got, Err(Error::Invalid(_))), "{got:?}");
}

#[test]
fn invalid_found_before_the_rest_arrives() {
    // A bad session_id length is reported at once, long before the
    // declared handshake length has arrived.
    let mut body = Builder::new().ext(0x15, vec![0; 2000]).body();
    body[2 + 32] = 33;
    let input = records(&handshake(&body), 2);
    assert_error(&input, 5 + 4 + 2 + 32 + 1, Error::Invalid("session_id too long"));
}

#[test]
fn error_in_earlier_bytes_wins_over_record_fault() {
    // The hello is broken in its first record and the second record is
    // not a handshake record: the earlier fault is reported throughout.
    let mut body = Builder::new().body();
    body[2 + 32] = 40;
    let m = handshake(&body);
    let mut input = record_of(CONTENT_TYPE_HANDSHAKE, &m[..50]);
    input.extend(record_of(23, &m[50..]));
    assert_error(&input, 5 + 4 + 2 + 32 + 1, Error::Invalid("session_id too long"));
}

#[test]
fn duplicate_extensions() {
    let input = Builder::new().sni(b"a.example").sni(b"b.example").record();
    let (_, got) = prefixes(&input, MAX);
    assert_eq!(got, Err(Error::Invalid("duplicate extension")));

    let input = Builder::new().ext(0x1234, vec![]).ext(0x1234, vec![1]).record();
    let (_, got) = prefixes(&input, MAX);
    assert_eq!(got, Err(Error::Invalid("duplicate extension")));

    let input = Builder::new().ech().ech().record();
    let (_, got) = prefixes(&input, MAX);
    assert_eq!(got, Err(Error::Invalid("duplicate extension")));

    let mut set = ExtensionSet::default();
    assert!(set.insert(0) && set.insert(u16::MAX) && set.insert(64));
    assert!(!set.insert(0) && !set.insert(u16::MAX) && !set.insert(64));
}

#[test]
fn bad_sni() {
    let long = [b'a'; 256];
    let cases: [(&[u8], &str); 6] = [
        (b"", "bad host_name length"),
        (&long, "bad host_name length"),
        (b"bad name.example", "host_name is not printable ascii"),
        (b"nul\0.example", "host_name is not printable ascii"),
        (b"caf\xc3\xa9.example", "host_name is not printable ascii"),
        (b"del\x7f", "host_name is not printable ascii"),
    ];
    for (name, want) in cases {
        let input = Builder::new().sni(name).record();
        assert_eq!(prefixes(&input, MAX).1, Err(Error::Invalid(want)));
    }

    let input = Builder::new().sni(&long[..255]).record();
    let name = String::from_utf8(long[..255].to_vec()).ok();
    assert_eq!(
        parse(&input, MAX),
        Ok(Parsed::Done(ClientHello {
            server_name: name,
            ..hello(None, &[], false)
        }))
    );

    // Empty list, list overrunning or short of the extension.
    for (ext, want) in [
        (vec![0, 0], "empty server_name list"),
        (vec![], "server_name list overruns the extension"),
        (vec![0, 9, 0, 0, 1, b'a'], "server_name list overruns the extension"),
        (vec![0, 4, 0, 0, 1, b'a', 0], "bytes after the server_name list"),
        (vec![0, 4, 0, 0, 3, b'a'], "server_name entry overruns the list"),
        (vec![0, 2, 0, 0], "server_name entry overruns the list"),
    ] {
        let input = Builder::new().ext(EXT_SERVER_NAME, ext).record();
        assert_eq!(prefixes(&input, MAX).1, Err(Error::Invalid(want)));
    }

    // Other name types are skipped; a second host_name is refused.
    let ext = vec![0, 8, 1, 0, 1, b'z', 0, 0, 1, b'h'];
    let input = Builder::new().ext(EXT_SERVER_NAME, ext).record();
    assert_valid(&input, input.len(), &hello(Some("h"), &[], false));

    let ext = vec![0, 4, 7, 0, 1, b'z'];
    let input = Builder::new().ext(EXT_SERVER_NAME, ext).record();
    assert_valid(&input, input.len(), &hello(None, &[], false));

    let ext = vec![0, 8, 0, 0, 1, b'a', 0, 0, 1, b'b'];
    let input = Builder::new().ext(EXT_SERVER_NAME, ext).record();
    let got = prefixes(&input, MAX).1;
    assert_eq!(got, Err(Error::Invalid("more than one host_name")));
}

#[test]
fn bad_alpn() {
    for (ext, want) in [
        (vec![0, 0], "empty alpn list"),
        (vec![0, 1, 0], "empty alpn protocol"),
        (vec![0, 3, 2, 0xff, 0xfe], "alpn protocol is not utf-8"),
        (vec![0, 3, 5, b'h', b'2'], "alpn protocol overruns the list"),
        (vec![0, 3, 2, b'h', b'2', 0], "bytes after the alpn list"),
    ] {
        let input = Builder::new().ext(EXT_ALPN, ext).record();
        assert_eq!(prefixes(&input, MAX).1, Err(Error::Invalid(want)));
    }
}

#[test]
fn extension_contents_must_fill_the_extension() {
    // An ECH extension body is opaque; an unknown one too.
    let input = Builder::new().ext(EXT_ENCRYPTED_CLIENT_HELLO, vec![]).record();
    assert_valid(&input, input.len(), &hello(None, &[], true));
    let input = Builder::new().ext(0xff01, vec![0]).ext(0x0017, vec![]).record();
    assert_valid(&input, input.len(), &hello(None, &[], false));
}

#[test]
fn every_prefix_of_assorted_inputs() {
    let b = Builder::new().sni(b"every.example").alpn(&[b"h2", b"http/1.1"]).ech();
    let m = b.message();
    let mut inputs = vec![
        b.record(),
        records(&m, 2),
        records(&m, 3),
        records_of_size(&m, 1),
        records_of_size(&m, 7),
        Builder::new().no_extensions().record(),
    ];
    // Each single byte of the hello changed in turn.
    let base = records(&m, 2);
    for i in 0..base.len() {
        let mut v = base.clone();
        v[i] ^= 0x5a;
        inputs.push(v);
    }
    // Each length cut short.
    for i in 0..base.len() {
        inputs.push(base[..i].to_vec());
    }
    for input in &inputs {
        for max in [MAX, input.len(), input.len().saturating_sub(1), 64] {
            let (at, got) = prefixes(input, max);
            if let Ok(Parsed::Done(_)) = got {
                assert!(at <= input.len() && at <= max);
            }
            // Extra bytes never change a decided answer.
            let mut longer = input.clone();
            longer.extend_from_slice(&[0x16; 40]);
            if at <= input.len() {
                assert_eq!(parse(&longer, max), got);
            }
        }
    }
}

#[test]
fn never_panics_on_noise() {
    // A small deterministic generator; the fuzz target goes further.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let seed = Builder::new().sni(b"noise.example").alpn(&[b"h2"]).ech().record();
    for _ in 0..2000 {
        let mut v = seed.clone();
        let flips = next() % 4 + 1;
        for _ in 0..flips {
            let i = usize::try_from(next() % v.len() as u64).unwrap_or(0);
            v[i] = next().to_be_bytes()[0];
        }
        let got = parse(&v, MAX);
        if got != Ok(Parsed::NeedMore) {
            let mut longer = v.clone();
            longer.push(0);
            assert_eq!(parse(&longer, MAX), got);
        }
    }
}

#[test]
fn real_captures() {
    let long: Vec<String> = ['a', 'b', 'c', 'd']
        .iter()
        .map(|c| format!("x-{}", c.to_string().repeat(200)))
        .collect();
    let mut split_alpn = vec!["h2".to_owned(), "http/1.1".to_owned()];
    split_alpn.extend(long);
    let h2_h1 = vec!["h2".to_owned(), "http/1.1".to_owned()];
    type Capture<'a> = (&'a [u8], Option<&'a str>, Vec<String>, usize);
    let cases: [Capture<'_>; 4] = [
        (
            include_bytes!("../../../tests/fixtures/client_hello/rustls-tls13-sni.bin"),
            Some("www.tiktok.com"),
            h2_h1.clone(),
            1,
        ),
        (
            include_bytes!("../../../tests/fixtures/client_hello/rustls-no-sni.bin"),
            None,
            h2_h1,
            1,
        ),
        (
            include_bytes!("../../../tests/fixtures/client_hello/openssl-tls12.bin"),
            Some("example.org"),
            vec!["http/1.1".to_owned()],
            1,
        ),
        (
            include_bytes!("../../../tests/fixtures/client_hello/openssl-tls13-split.bin"),
            Some("api.example.net"),
            split_alpn,
            3,
        ),
    ];
    for (input, server_name, alpn, record_count) in cases {
        let want = ClientHello {
            server_name: server_name.map(str::to_owned),
            ech: false,
            alpn,
            legacy_version: 0x0303,
        };
        // Each capture ends with its hello.
        assert_valid(input, input.len(), &want);
        let mut longer = input.to_vec();
        longer.extend(alert_record(Alert::HandshakeFailure));
        assert_valid(&longer, input.len(), &want);

        let mut records = 0;
        let mut pos = 0;
        while let Some(&[hi, lo]) = input.get(pos + 3..pos + 5) {
            records += 1;
            pos += 5 + usize::from(u16::from_be_bytes([hi, lo]));
        }
        assert_eq!((records, pos), (record_count, input.len()));

        // Re-framed in 1-byte records, the same hello comes out.
        let mut message = Vec::new();
        let mut pos = 0;
        while let Some(&[hi, lo]) = input.get(pos + 3..pos + 5) {
            let len = usize::from(u16::from_be_bytes([hi, lo]));
            message.extend_from_slice(&input[pos + 5..pos + 5 + len]);
            pos += 5 + len;
        }
        let reframed = records_of_size(&message, 1);
        assert_valid(&reframed, reframed.len(), &want);
    }
}

#[test]
fn alert_bytes() {
    assert_eq!(alert_record(Alert::AccessDenied), [21, 3, 3, 0, 2, 2, 49]);
    assert_eq!(alert_record(Alert::InternalError), [21, 3, 3, 0, 2, 2, 80]);
    assert_eq!(alert_record(Alert::HandshakeFailure), [21, 3, 3, 0, 2, 2, 40]);
    assert_eq!(alert_record(Alert::UnrecognizedName), [21, 3, 3, 0, 2, 2, 112]);
    // An alert is not a ClientHello.
    let alert = alert_record(Alert::AccessDenied);
    assert_eq!(parse(&alert, MAX), Err(Error::NotTls));
}

#[test]
fn error_messages() {
    assert_eq!(Error::NotTls.to_string(), "not a tls handshake");
    assert_eq!(
        Error::Invalid("duplicate extension").to_string(),
        "invalid client hello: duplicate extension"
    );
    assert_eq!(Error::TooLarge.to_string(), "client hello too large");
    let boxed: Box<dyn std::error::Error> = Box::new(Error::TooLarge);
    assert!(boxed.source().is_none());
}

use super::*;

/// Valid bodies, each followed by bytes of the next message that must not be taken.
const VALID: &[&[u8]] = &[
    b"0\r\n\r\n",
    b"5\r\nhello\r\n0\r\n\r\n",
    b"5;ext=1\r\nhello\r\n0\r\n\r\n",
    b"5 ; a = b ;c;d=\"q \\\" v\"\r\nhello\r\n000\r\n\r\n",
    b"5;a\t=\t\"x\"\t;b\r\nhello\r\n0;last\r\n\r\n",
    b"A\r\n0123456789\r\n1\r\nx\r\n0\r\nExpires: never\r\nX-Sum:  abc \r\n\r\n",
    b"ffffffff\r\n",
    b"0\r\nX-Empty:\r\n\r\n",
    b"3\r\n\r\n\r\r\n0\r\n\r\n",
    b"1\r\n\xff\r\n0\r\nX-Obs: caf\xc3\xa9\r\n\r\n",
];

/// Invalid bodies and the error each must give.
const INVALID: &[(&[u8], Error)] = &[
    (b"5zz\r\nhello\r\n0\r\n\r\n", Error::ChunkSize),
    (b"\r\nhello", Error::ChunkSize),
    (b";a\r\n", Error::ChunkSize),
    (b"-5\r\n", Error::ChunkSize),
    (b"0x5\r\n", Error::ChunkSize),
    (b"+5\r\n", Error::ChunkSize),
    (b"10000000000000000\r\n", Error::ChunkSize),
    (b"5\n", Error::LineEnd),
    (b"5\rhello", Error::LineEnd),
    (b"5\r\r\n", Error::LineEnd),
    (b"5;a\rb\r\nhello\r\n0\r\n\r\n", Error::LineEnd),
    (b"5;a\nb\r\n", Error::LineEnd),
    (b"5 \r\n", Error::ChunkExtension),
    (b"5;\r\n", Error::ChunkExtension),
    (b"5;=b\r\n", Error::ChunkExtension),
    (b"5;a=\r\n", Error::ChunkExtension),
    (b"5;a=b c\r\n", Error::ChunkExtension),
    (b"5;a b\r\n", Error::ChunkExtension),
    (b"5;a=\"b\r\n", Error::ChunkExtension),
    (b"5;a=\"b\"c\r\n", Error::ChunkExtension),
    (b"5;a=\"\x01\"\r\n", Error::ChunkExtension),
    (b"5;a=\"\\\x7f\"\r\n", Error::ChunkExtension),
    (b"5;a\x00\r\n", Error::ChunkExtension),
    (b"5;a=b\xff\r\n", Error::ChunkExtension),
    (b"5\r\nhelloXY", Error::ChunkDataEnd),
    (b"5\r\nhello\n0\r\n", Error::ChunkDataEnd),
    (b"5\r\nhello\r0\r\n", Error::ChunkDataEnd),
    (b"0\r\n \r\n\r\n", Error::TrailerField),
    (b"0\r\nA: b\r\n folded\r\n\r\n", Error::TrailerField),
    (b"0\r\nA : b\r\n\r\n", Error::TrailerField),
    (b"0\r\n: b\r\n\r\n", Error::TrailerField),
    (b"0\r\nA\r\n\r\n", Error::TrailerField),
    (b"0\r\nA: b\x00c\r\n\r\n", Error::TrailerField),
    (b"0\r\nA: b\rc\r\n\r\n", Error::LineEnd),
    (b"0\r\nA: b\n\r\n", Error::LineEnd),
    (b"0\r\n\n", Error::LineEnd),
    (b"0\r\n\rX", Error::LineEnd),
];

#[test]
fn valid_bodies_end_exactly_where_they_end() {
    for body in VALID {
        let mut with_next = body.to_vec();
        with_next.extend_from_slice(b"GET / HTTP/1.1\r\n");
        let end = check(&with_next);
        if body.ends_with(b"\r\n\r\n") {
            assert_eq!(end, Ok(Some(body.len())), "{}", body.escape_ascii());
        } else {
            assert_eq!(check(body), Ok(None), "{}", body.escape_ascii());
        }
    }
}

#[test]
fn invalid_bodies_name_their_fault() {
    for (body, want) in INVALID {
        assert_eq!(check(body), Err(*want), "{}", body.escape_ascii());
    }
}

/// Every prefix of a valid body needs more; every prefix of an invalid one needs more
/// until the faulty byte, then gives the same error.
#[test]
fn every_prefix_needs_more_or_agrees() {
    for body in VALID {
        for cut in 0..body.len() {
            let got = check(&body[..cut]);
            assert_eq!(got, Ok(None), "{} cut at {cut}", body.escape_ascii());
        }
    }
    for (body, want) in INVALID {
        let mut failed = false;
        for cut in 0..=body.len() {
            match check(&body[..cut]) {
                Ok(None) => assert!(!failed, "{} cut at {cut}: error went away", body.escape_ascii()),
                Err(e) => {
                    assert_eq!(e, *want, "{} cut at {cut}", body.escape_ascii());
                    failed = true;
                }
                Ok(Some(n)) => panic!("{} cut at {cut}: done at {n}", body.escape_ascii()),
            }
        }
        assert!(failed);
    }
}

/// Fed one byte at a time, as a slow client sends it, the checker passes the same
/// bytes in the same pieces as when everything is buffered, and never looks back.
#[test]
fn byte_by_byte_feeding_passes_the_same_bytes() {
    for body in VALID.iter().chain(INVALID.iter().map(|(b, _)| b)) {
        let mut d = Decoder::new();
        let mut buffered = Vec::new();
        let mut passed = Vec::new();
        let mut outcome = Ok(None);
        'feed: for &b in body.iter() {
            buffered.push(b);
            loop {
                match d.step(&buffered) {
                    Ok(Step::Pass(n)) => {
                        passed.extend(buffered.drain(..n));
                    }
                    Ok(Step::Done(n)) => {
                        passed.extend(buffered.drain(..n));
                        outcome = Ok(Some(passed.len()));
                        break 'feed;
                    }
                    Ok(Step::NeedMore) => break,
                    Err(e) => {
                        outcome = Err(e);
                        break 'feed;
                    }
                }
            }
        }
        assert_eq!(outcome, check(body), "{}", body.escape_ascii());
        assert!(body.starts_with(&passed));
    }
}

#[test]
fn errors_stick_and_done_stays_done() {
    let mut d = Decoder::new();
    assert_eq!(d.step(b"5zz"), Err(Error::ChunkSize));
    assert_eq!(d.step(b"5\r\nhello\r\n0\r\n\r\n"), Err(Error::ChunkSize));
    let mut d = Decoder::new();
    assert_eq!(d.step(b"0\r\n\r\n"), Ok(Step::Pass(3)));
    assert_eq!(d.step(b"\r\n"), Ok(Step::Done(2)));
    assert!(d.is_done());
    assert_eq!(d.step(b"more"), Ok(Step::Done(0)));
}

#[test]
fn only_checked_bytes_pass() {
    // The size line passes whole, data as soon as it is there, the CRLF after it alone.
    let mut d = Decoder::new();
    assert_eq!(d.step(b"5;a=b"), Ok(Step::NeedMore));
    assert_eq!(d.step(b"5;a=b\r\nhel"), Ok(Step::Pass(7)));
    assert_eq!(d.step(b"hel"), Ok(Step::Pass(3)));
    assert_eq!(d.step(b"lo\r"), Ok(Step::Pass(2)));
    assert_eq!(d.step(b"\r"), Ok(Step::NeedMore));
    assert_eq!(d.step(b"\r\n0"), Ok(Step::Pass(2)));
}

#[test]
fn long_lines_and_trailers_are_bounded() {
    let mut line = b"1;a=".to_vec();
    line.resize(MAX_LINE - 2, b'x');
    line.extend_from_slice(b"\r\nx\r\n");
    assert_eq!(check(&line), Ok(None), "a line of exactly MAX_LINE bytes passes");
    let mut long = b"1;a=".to_vec();
    long.resize(MAX_LINE + 1, b'x');
    assert_eq!(check(&long), Err(Error::TooLong));
    let mut trailers = b"0\r\n".to_vec();
    while trailers.len() <= MAX_TRAILER + 16 {
        trailers.extend_from_slice(b"X-Filler: 0123456789012345678901234567890123456789\r\n");
    }
    assert_eq!(check(&trailers), Err(Error::TooLong));
}

#[test]
fn large_sizes_count_down() {
    let mut d = Decoder::new();
    assert_eq!(d.step(b"ffffffffffffffff\r\n"), Ok(Step::Pass(18)));
    let block = vec![0u8; 1 << 16];
    for _ in 0..4 {
        assert_eq!(d.step(&block), Ok(Step::Pass(block.len())));
    }
}

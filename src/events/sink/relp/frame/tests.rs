use super::*;

/// Frames a collector sends, each followed by the start of the next frame.
const VALID: &[(&[u8], u32, &str, &[u8])] = &[
    (b"1 rsp 6 200 OK\n", 1, "rsp", b"200 OK"),
    (
        b"1 rsp 53 200 OK\nrelp_version=0\nrelp_software=x\ncommands=syslog\n",
        1,
        "rsp",
        b"200 OK\nrelp_version=0\nrelp_software=x\ncommands=syslog",
    ),
    (b"999999999 rsp 6 200 OK\n", MAX_TXNR, "rsp", b"200 OK"),
    (b"0 serverclose 0\n", 0, "serverclose", b""),
    (b"7 rsp 0\n", 7, "rsp", b""),
    (b"7 rsp 0 \n", 7, "rsp", b""),
    (b"12 rsp 5 a\nb\nc\n", 12, "rsp", b"a\nb\nc"),
];

const INVALID: &[(&[u8], Error)] = &[
    (b" rsp 6 200 OK\n", Error::Txnr),
    (b"x rsp 6 200 OK\n", Error::Txnr),
    (b"1000000000 rsp 6 200 OK\n", Error::Txnr),
    (b"1\n", Error::Separator),
    (b"1x rsp 6 200 OK\n", Error::Separator),
    (b"1  rsp 6 200 OK\n", Error::Command),
    (b"1 rs9 6 200 OK\n", Error::Command),
    (b"1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 0\n", Error::Command),
    (b"1 rsp x\n", Error::DataLen),
    (b"1 rsp  6 200 OK\n", Error::DataLen),
    (b"1 rsp 1000000000 x\n", Error::DataLen),
    (b"1 rsp 999999 x\n", Error::DataLen),
    (b"1 rsp 6\n200 OK\n", Error::Separator),
    (b"1 rsp 6x200 OK\n", Error::Separator),
    (b"1 rsp 6 200 OKX\n", Error::Trailer),
    (b"1 rsp 0 X", Error::Trailer),
];

#[test]
fn valid_frames_and_every_prefix() {
    for (bytes, txnr, command, data) in VALID {
        let mut with_next = bytes.to_vec();
        with_next.extend_from_slice(b"2 rsp 6 2");
        let (frame, len) = parse(&with_next).unwrap().unwrap();
        assert_eq!(
            (frame.txnr, frame.command, frame.data, len),
            (*txnr, *command, *data, bytes.len()),
            "{}",
            bytes.escape_ascii()
        );
        for cut in 0..bytes.len() {
            assert_eq!(parse(&bytes[..cut]), Ok(None), "{} cut at {cut}", bytes.escape_ascii());
        }
    }
}

#[test]
fn invalid_frames_fail_as_soon_as_the_fault_shows() {
    for (bytes, want) in INVALID {
        assert_eq!(
            parse(bytes).map(|f| f.map(|(f, n)| (f.txnr, n))),
            Err(*want),
            "{}",
            bytes.escape_ascii()
        );
        let mut failed = false;
        for cut in 0..=bytes.len() {
            match parse(&bytes[..cut]) {
                Ok(None) => assert!(!failed, "{} cut at {cut}: the error went away", bytes.escape_ascii()),
                Ok(Some(_)) => panic!("{} cut at {cut}: parsed", bytes.escape_ascii()),
                Err(e) => {
                    assert_eq!(e, *want, "{} cut at {cut}", bytes.escape_ascii());
                    failed = true;
                }
            }
        }
    }
}

#[test]
fn status_codes() {
    let f = |data: &'static [u8]| Frame {
        txnr: 1,
        command: "rsp",
        data,
    };
    assert_eq!(f(b"200 OK").status(), Some(200));
    assert_eq!(f(b"500 error").status(), Some(500));
    assert_eq!(f(b"200").status(), Some(200));
    assert_eq!(f(b"20 OK").status(), None);
    assert_eq!(f(b"2000 OK").status(), None);
    assert_eq!(f(b"").status(), None);
}

#[test]
fn encode_round_trips() {
    let mut out = Vec::new();
    encode(42, "syslog", b"<13>1 - - - - - - hello", &mut out);
    encode(43, "close", b"", &mut out);
    assert_eq!(out, b"42 syslog 23 <13>1 - - - - - - hello\n43 close 0\n");
    let (f, n) = parse(&out).unwrap().unwrap();
    assert_eq!(
        (f.txnr, f.command, f.data),
        (42, "syslog", &b"<13>1 - - - - - - hello"[..])
    );
    let (f, _) = parse(&out[n..]).unwrap().unwrap();
    assert_eq!((f.txnr, f.command, f.data), (43, "close", &b""[..]));
}

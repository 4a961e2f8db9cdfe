use super::*;

const SECRET: &[u8] = b"s3cret";

fn start() -> Vec<u8> {
    request(
        7,
        &[
            (ACCT_STATUS_TYPE, &1u32.to_be_bytes()),
            (FRAMED_IP_ADDRESS, &[10, 77, 1, 9]),
            (CALLING_STATION_ID, b"AA-BB-CC-DD-EE-01"),
            (44, b"session-1"),
        ],
        SECRET,
    )
}

#[test]
fn a_signed_request_verifies_and_says_what_it_carries() {
    let bytes = start();
    let p = parse(&bytes).unwrap();
    assert_eq!((p.code, p.identifier), (ACCOUNTING_REQUEST, 7));
    assert!(p.verify(SECRET));
    assert!(!p.verify(b"wrong"));
    let a = p.accounting().unwrap();
    assert_eq!(a.status, Some(StatusType::Start));
    assert_eq!(a.framed_ip, Some(Ipv4Addr::new(10, 77, 1, 9)));
    assert_eq!(a.calling_station, Some(&b"AA-BB-CC-DD-EE-01"[..]));
    assert_eq!(p.attributes().count(), 4);
}

#[test]
fn every_changed_byte_fails_the_authenticator() {
    let bytes = start();
    for i in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x01;
        if let Ok(p) = parse(&bad) {
            assert!(!p.verify(SECRET), "byte {i} changed and still verified");
        }
    }
}

#[test]
fn the_response_authenticator_follows_rfc_2866() {
    let bytes = start();
    let p = parse(&bytes).unwrap();
    let r = response(&p, SECRET);
    assert_eq!(
        (r[0], r[1], u16::from_be_bytes([r[2], r[3]])),
        (ACCOUNTING_RESPONSE, 7, 20)
    );
    let mut md5 = Md5::new();
    md5.update([5, 7, 0, 20]);
    md5.update(p.authenticator);
    md5.update(SECRET);
    assert_eq!(&r[4..], md5.finalize().as_slice());
}

#[test]
fn every_prefix_of_a_datagram_is_refused_and_padding_is_ignored() {
    let bytes = start();
    for cut in 0..bytes.len() {
        let got = parse(&bytes[..cut]);
        let want = if cut < MIN_LEN { Error::TooShort } else { Error::Length };
        assert_eq!(got, Err(want), "cut at {cut}");
    }
    let mut padded = bytes.clone();
    padded.extend_from_slice(&[0xff; 9]);
    let p = parse(&padded).unwrap();
    assert!(p.verify(SECRET), "bytes past Length are padding (RFC 2865 §3)");
}

#[test]
fn malformed_packets() {
    let good = start();
    let mut cases: Vec<(Vec<u8>, Error)> = Vec::new();
    let with_len = |len: u16| {
        let mut b = good.clone();
        b[2..4].copy_from_slice(&len.to_be_bytes());
        b
    };
    cases.push((with_len(19), Error::Length));
    cases.push((with_len(5000), Error::Length));
    cases.push((with_len(good.len() as u16 + 1), Error::Length));
    // An attribute of length 1, and one running past the packet.
    let mut b = request(1, &[], SECRET);
    b.extend_from_slice(&[44, 1]);
    let n = b.len() as u16;
    b[2..4].copy_from_slice(&n.to_be_bytes());
    cases.push((b, Error::Attribute));
    let mut b = request(1, &[], SECRET);
    b.extend_from_slice(&[44, 10, b'x']);
    let n = b.len() as u16;
    b[2..4].copy_from_slice(&n.to_be_bytes());
    cases.push((b, Error::Attribute));
    // Attributes cut by a shorter Length.
    cases.push((with_len(good.len() as u16 - 3), Error::Attribute));
    for (bytes, want) in cases {
        assert_eq!(parse(&bytes).err(), Some(want), "{bytes:?}");
    }
    // Known attributes of the wrong size.
    for (kind, value) in [
        (ACCT_STATUS_TYPE, &[0u8, 1][..]),
        (FRAMED_IP_ADDRESS, &[10, 0, 0]),
        (FRAMED_IPV6_ADDRESS, &[0; 15]),
    ] {
        let b = request(1, &[(kind, value)], SECRET);
        let p = parse(&b).unwrap();
        assert_eq!(p.accounting(), Err(Error::Value(kind)));
    }
}

#[test]
fn status_types_and_ipv6() {
    for (n, want) in [
        (1, StatusType::Start),
        (2, StatusType::Stop),
        (3, StatusType::InterimUpdate),
        (7, StatusType::AccountingOn),
        (8, StatusType::AccountingOff),
        (15, StatusType::Other(15)),
    ] {
        let b = request(1, &[(ACCT_STATUS_TYPE, &u32::to_be_bytes(n))], SECRET);
        assert_eq!(parse(&b).unwrap().accounting().unwrap().status, Some(want));
    }
    let v6: Ipv6Addr = "2001:db8::9".parse().unwrap();
    let b = request(1, &[(FRAMED_IPV6_ADDRESS, &v6.octets())], SECRET);
    assert_eq!(parse(&b).unwrap().accounting().unwrap().framed_ipv6, Some(v6));
}

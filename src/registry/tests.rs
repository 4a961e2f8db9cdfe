use super::*;

const HEADER: &str = "device_id,authority,organisation,owner,purchase,subscription,usage,professional_use,token_sha256,cert_sha256,addresses,status\n";
const T1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const T2: &str = "2222222222222222222222222222222222222222222222222222222222222222";

fn csv(rows: &str) -> Result<Registry, String> {
    Registry::parse(Path::new("reg.csv"), &format!("{HEADER}{rows}")).map_err(|e| e.to_string())
}

#[test]
fn coverage_is_derived() {
    let reg = csv(&format!(
        "fin-1,federal,FPS Finance,u1,full,none,none,,{T1},,10.0.0.0/24,active\n\
         fin-2,federal,FPS Finance,u2,none,none,partial,false,,,,active\n\
         own-1,flanders,,u3,none,none,none,true,,,10.0.0.7,active\n\
         own-2,flanders,,u4,none,none,none,false,{T2},,,retired\n"
    ))
    .unwrap();
    let cov = |id: &str| reg.device(reg.by_id(id).unwrap()).coverage();
    assert_eq!(cov("fin-1"), Coverage::Covered);
    assert_eq!(cov("fin-2"), Coverage::Covered);
    assert_eq!(cov("own-1"), Coverage::Advisory);
    assert_eq!(cov("own-2"), Coverage::Private);
    assert_eq!(reg.device(reg.by_id("own-2").unwrap()).status, Status::Retired);
    assert_eq!(reg.count(Coverage::Covered), 2);
    // Nested prefixes resolve to the longest.
    let at = |ip: &str| reg.by_address(ip.parse().unwrap()).map(|d| &*reg.device(d).id);
    assert_eq!(at("10.0.0.7"), Some("own-1"));
    assert_eq!(at("10.0.0.8"), Some("fin-1"));
    assert_eq!(at("10.0.1.8"), None);
    assert_eq!(reg.device(0).line, 2);
}

#[test]
fn row_errors_name_the_line() {
    let cases = [
        (
            "a,federal,,,full,none,none,,,,,active\nb,federal,,,maybe,none,none,,,,,active\n",
            "reg.csv:3: purchase \"maybe\" must be none, partial or full",
        ),
        (
            "a,federal,,,full,none,none,,,,,active\na,federal,,,full,none,none,,,,,active\n",
            "reg.csv:3: duplicate device_id \"a\" (first on line 2)",
        ),
        (
            &format!("a,federal,,,full,none,none,,{T1},,,active\nb,federal,,,full,none,none,,{T1},,,active\n"),
            "reg.csv:3: token_sha256 is already used by device on line 2",
        ),
        (
            &format!("a,federal,,,full,none,none,,,{T1},,active\nb,federal,,,full,none,none,,,{T1},,active\n"),
            "reg.csv:3: cert_sha256 is already used by device on line 2",
        ),
        (
            "a,federal,,,full,none,none,,,,10.0.0.0/8,active\nb,federal,,,full,none,none,,,,10.0.0.0/8,active\n",
            "reg.csv:3: address 10.0.0.0/8 is already used by device on line 2",
        ),
        (
            "a,federal,,,full,none,none,,,,10.0.0.1/8,active\n",
            "reg.csv:2: address \"10.0.0.1/8\" has host bits set (did you mean 10.0.0.0/8?)",
        ),
        (
            "a b,federal,,,full,none,none,,,,,active\n",
            "reg.csv:2: device_id \"a b\" must be [A-Za-z0-9._-]{1,64}",
        ),
        (
            ",federal,,,full,none,none,,,,,active\n",
            "reg.csv:2: device_id is required",
        ),
        (
            "a,federal,,,full,none,none,yes,,,,active\n",
            "reg.csv:2: professional_use \"yes\" must be true or false",
        ),
        (
            "a,federal,,,full,none,none,,abc,,,active\n",
            "reg.csv:2: token_sha256 must be 64 hexadecimal characters",
        ),
        (
            "a,federal,,,full,none,none,,,,,gone\n",
            "reg.csv:2: status \"gone\" must be active, retired or lost",
        ),
        (
            "a,federal,,,full,none,none,,,,,active\nb,federal\n",
            "reg.csv:3: malformed row: 2 fields where the header has 12",
        ),
        (
            "a,federal,,,full,none,none,,,,\"10.0.0.1\n10.0.0.2\",active\nb,federal,,,full,none,none,,,,,bad\n",
            "reg.csv:4: status \"bad\" must be active, retired or lost",
        ),
    ];
    for (rows, want) in cases {
        assert_eq!(csv(rows).unwrap_err(), want, "{rows}");
    }
}

#[test]
fn header_errors() {
    let e = Registry::parse(Path::new("r.csv"), "device_id,authority,colour\n").unwrap_err();
    assert_eq!(e.to_string(), "r.csv:1: unknown column \"colour\"");
    let e = Registry::parse(Path::new("r.csv"), "device_id,authority,purchase,subscription,usage\n").unwrap_err();
    assert_eq!(e.to_string(), "r.csv:1: missing required column \"status\"");
    // Only the required columns are needed.
    let reg = Registry::parse(
        Path::new("r.csv"),
        "device_id,authority,purchase,subscription,usage,status\nx,fwb,none,full,none,lost\n",
    )
    .unwrap();
    assert_eq!(reg.len(), 1);
}

#[test]
fn json_rows_and_lines() {
    let text = format!(
        "[\n  {{\"device_id\": \"a\", \"authority\": \"wallonia\", \"purchase\": \"none\", \"subscription\": \"none\",\n   \"usage\": \"none\", \"professional_use\": true, \"addresses\": [\"192.0.2.1\", \"2001:db8::/64\"],\n   \"token_sha256\": \"{T1}\", \"status\": \"active\"}},\n  {{\"device_id\": \"b\", \"authority\": \"wallonia\", \"purchase\": \"full\", \"subscription\": \"none\", \"usage\": \"none\", \"status\": \"active\"}}\n]\n"
    );
    let reg = Registry::parse(Path::new("r.json"), &text).unwrap();
    let a = reg.device(reg.by_id("a").unwrap());
    assert_eq!(a.coverage(), Coverage::Advisory);
    assert_eq!((a.line, reg.device(1).line), (2, 5));
    assert_eq!(reg.by_address("2001:db8::9".parse().unwrap()), Some(0));

    let bad = "[\n {\"device_id\": \"a\", \"authority\": \"x\", \"purchase\": \"none\", \"subscription\": \"none\", \"usage\": \"none\", \"status\": \"active\"},\n {\"device_id\": \"b\",\n  \"colour\": 1}\n]";
    let e = Registry::parse(Path::new("r.json"), bad).unwrap_err().to_string();
    assert!(e.starts_with("r.json:4: unknown field `colour`"), "{e}");
    let e = Registry::parse(Path::new("r.json"), "[\n {\"device_id\": \"a\", \"authority\": \"x\", \"purchase\": \"none\", \"subscription\": \"none\", \"usage\": \"sometimes\", \"status\": \"active\"}\n]").unwrap_err();
    assert_eq!(
        e.to_string(),
        "r.json:2: usage \"sometimes\" must be none, partial or full"
    );
    let e = Registry::parse(Path::new("r.json"), "[\n{,}\n]").unwrap_err();
    assert!(e.to_string().starts_with("r.json:2: malformed JSON"), "{e}");
}

#[test]
fn debug_hides_credentials() {
    let reg = csv(&format!("a,federal,,,full,none,none,,{T1},,,active\n")).unwrap();
    let dbg = format!("{:?}", reg.device(0));
    assert!(!dbg.contains("1111"), "{dbg}");
}

/// Physical line numbers whatever the line ends (RFC 4180 files end lines with CRLF),
/// also after quoted fields that span lines and blank lines.
#[test]
fn csv_line_numbers_are_physical_lines() {
    let good = "a,federal,,,full,none,none,,,,,active";
    let other = "c,federal,,,full,none,none,,,,,active";
    let bad = "b,federal,,,maybe,none,none,,,,,active";
    let quoted = "q,federal,\"Org\nspread\non lines\",,full,none,none,,,,,active";
    for (eol, name) in [("\r\n", "CRLF"), ("\n", "LF"), ("\r", "CR")] {
        let header = HEADER.trim_end();
        let cases = [
            (vec![header, good, other, bad], 4),
            (vec![header, bad], 2),
            (vec![header, quoted, bad], 5),
            (vec![header, good, "", bad], 4),
        ];
        for (lines, want) in cases {
            let mut text = lines.join(eol);
            text.push_str(eol);
            let err = Registry::parse(Path::new("devices.csv"), &text)
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with(&format!("devices.csv:{want}: purchase")),
                "{name}, want line {want}: {err}"
            );
        }
        // A malformed row (a field too many) is named by its line too.
        let text = [header, good, quoted, "x,y"].join(eol);
        let err = Registry::parse(Path::new("devices.csv"), &text)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("devices.csv:6: malformed row"), "{name}: {err}");
    }
}

/// SPEC §4: the optional `macs` column, any spelling, normalised; the same MAC on two
/// devices is an error with the line number; JSON takes an array.
#[test]
fn macs_are_normalised_and_unique() {
    let header = HEADER.trim_end().to_owned() + ",macs\n";
    let text = format!(
        "{header}a,federal,,,full,none,none,,,,,active,AA-BB-CC-DD-EE-01 aabb.ccdd.ee02\n\
         b,federal,,,full,none,none,,,,,active,\n"
    );
    let reg = Registry::parse(Path::new("reg.csv"), &text).unwrap();
    let a = reg.by_id("a").unwrap();
    assert_eq!(reg.device(a).macs.len(), 2);
    for spelling in ["aa:bb:cc:dd:ee:01", "AABB.CCDD.EE01", "aa-bb-cc-dd-ee-02"] {
        assert_eq!(reg.by_mac(&Mac::parse(spelling).unwrap()), Some(a), "{spelling}");
    }
    assert!(reg.device(reg.by_id("b").unwrap()).macs.is_empty());

    let dup = format!(
        "{header}a,federal,,,full,none,none,,,,,active,aa:bb:cc:dd:ee:01\n\
         b,federal,,,full,none,none,,,,,active,AA-BB-CC-DD-EE-01\n"
    );
    let err = Registry::parse(Path::new("reg.csv"), &dup).unwrap_err().to_string();
    assert_eq!(
        err,
        "reg.csv:3: MAC address aa:bb:cc:dd:ee:01 is already used by device on line 2"
    );
    let bad = format!("{header}a,federal,,,full,none,none,,,,,active,aa:bb\n");
    let err = Registry::parse(Path::new("reg.csv"), &bad).unwrap_err().to_string();
    assert!(err.starts_with("reg.csv:2: MAC address \"aa:bb\""), "{err}");

    let json = r#"[
  {"device_id": "j", "authority": "federal", "purchase": "full", "subscription": "none",
   "usage": "none", "status": "active", "macs": ["aabb.ccdd.ee03"]}
]"#;
    let reg = Registry::parse(Path::new("reg.json"), json).unwrap();
    assert_eq!(reg.by_mac(&Mac::parse("aa:bb:cc:dd:ee:03").unwrap()), reg.by_id("j"));
}

//! The accounting rules on a real snapshot: bind, refresh, replace, unbind, clear a
//! NAS, retransmissions, and every way a datagram is refused.

use std::net::Ipv4Addr;

use super::*;
use crate::config::OnSpoolFull;

const SECRET: &[u8] = b"testing123";
const NAS: &str = "10.20.0.5:40000";

const ACCT_STATUS_TYPE: u8 = 40;
const FRAMED_IP: u8 = 8;
const CALLING_STATION: u8 = 31;

struct Setup {
    _dir: tempfile::TempDir,
    acct: Accounting,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("radius.secret"), b"testing123\n").unwrap();
    std::fs::create_dir_all(d.join("rules")).unwrap();
    std::fs::write(
        d.join("rules/t.toml"),
        "id = \"t\"\ntitle = \"T\"\ndomains = [\"tiktok.com\"]\n",
    )
    .unwrap();
    std::fs::write(
        d.join("devices.csv"),
        "device_id,authority,organisation,owner,purchase,subscription,usage,professional_use,token_sha256,cert_sha256,addresses,macs,status\n\
         phone-1,federal,FPS,o1,full,none,none,,,,,aa:bb:cc:dd:ee:01,active\n\
         phone-2,federal,FPS,o2,full,none,none,,,,,aa:bb:cc:dd:ee:02,active\n\
         old-1,federal,FPS,o3,full,none,none,,,,,aa:bb:cc:dd:ee:03,retired\n",
    )
    .unwrap();
    std::fs::write(
        d.join("slagboom.toml"),
        "[registry]\nsource = \"devices.csv\"\n[rules]\ndir = \"rules\"\n\
         [log]\nspool_dir = \"spool\"\n\
         [radius]\nlisten = \"127.0.0.1:0\"\nbinding_ttl = \"1h\"\n\
         [[radius.client]]\naddress = \"10.20.0.0/16\"\nsecret_file = \"radius.secret\"\n",
    )
    .unwrap();
    let snap = Snapshot::load(&d.join("slagboom.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(snap.config.log.on_spool_full, OnSpoolFull::RefuseNewConnections);
    let metrics = Arc::new(Metrics::new());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let events = rt.block_on(async { EventLog::start(&snap.config.log, metrics.clone()).unwrap() });
    let acct = Accounting::new(Arc::new(State::new(snap)), Arc::default(), events, metrics);
    Setup { _dir: dir, acct }
}

fn acct(id: u8, status: u32, ip: [u8; 4], mac: &str, secret: &[u8]) -> Vec<u8> {
    packet::request(
        id,
        &[
            (ACCT_STATUS_TYPE, &status.to_be_bytes()),
            (FRAMED_IP, &ip),
            (CALLING_STATION, mac.as_bytes()),
        ],
        secret,
    )
}

fn nas() -> SocketAddr {
    NAS.parse().unwrap()
}

#[test]
fn start_interim_stop_bind_and_unbind() {
    let s = setup();
    let now = Instant::now();
    let ip = IpAddr::V4(Ipv4Addr::new(10, 77, 1, 4));
    let out = s
        .acct
        .handle(&acct(1, 1, [10, 77, 1, 4], "AA-BB-CC-DD-EE-01", SECRET), nas(), now);
    assert_eq!(out.result, "bound");
    let answer = out.answer.expect("answered");
    assert_eq!((answer[0], answer[1]), (packet::ACCOUNTING_RESPONSE, 1));
    assert_eq!(out.changes.len(), 1);
    assert!(out.changes[0].0);
    assert_eq!(s.acct.bindings.device_of(ip, now).as_deref(), Some("phone-1"));

    // An Interim-Update refreshes: no change, no event.
    let out = s
        .acct
        .handle(&acct(2, 3, [10, 77, 1, 4], "aabb.ccdd.ee01", SECRET), nas(), now);
    assert_eq!((out.result, out.changes.len()), ("bound", 0));

    // Another device takes the address: unbound for the old, bound for the new.
    let out = s
        .acct
        .handle(&acct(3, 1, [10, 77, 1, 4], "aa:bb:cc:dd:ee:02", SECRET), nas(), now);
    let kinds: Vec<(bool, &str)> = out.changes.iter().map(|(b, _, x)| (*b, &*x.device)).collect();
    assert_eq!(kinds, [(false, "phone-1"), (true, "phone-2")]);

    // Stop unbinds.
    let out = s
        .acct
        .handle(&acct(4, 2, [10, 77, 1, 4], "aa:bb:cc:dd:ee:02", SECRET), nas(), now);
    assert_eq!((out.result, out.changes.len()), ("unbound", 1));
    assert_eq!(s.acct.bindings.device_of(ip, now), None);
}

#[test]
fn retransmissions_are_answered_again_and_applied_once() {
    let s = setup();
    let now = Instant::now();
    let start = acct(9, 1, [10, 77, 1, 5], "aa:bb:cc:dd:ee:01", SECRET);
    let first = s.acct.handle(&start, nas(), now);
    let again = s.acct.handle(&start, nas(), now);
    assert_eq!(first.answer, again.answer);
    assert_eq!((first.changes.len(), again.changes.len()), (1, 0));
    // The same identifier with another authenticator is a new request.
    let stop = acct(9, 2, [10, 77, 1, 5], "aa:bb:cc:dd:ee:01", SECRET);
    assert_eq!(s.acct.handle(&stop, nas(), now).changes.len(), 1);
}

#[test]
fn accounting_on_and_off_clear_what_that_nas_bound() {
    let s = setup();
    let now = Instant::now();
    s.acct
        .handle(&acct(1, 1, [10, 77, 1, 6], "aa:bb:cc:dd:ee:01", SECRET), nas(), now);
    let other: SocketAddr = "10.20.0.6:40000".parse().unwrap();
    s.acct
        .handle(&acct(1, 1, [10, 77, 1, 7], "aa:bb:cc:dd:ee:02", SECRET), other, now);
    let on = packet::request(5, &[(ACCT_STATUS_TYPE, &7u32.to_be_bytes())], SECRET);
    let out = s.acct.handle(&on, nas(), now);
    assert_eq!(out.changes.len(), 1, "only what this NAS bound");
    assert_eq!(s.acct.bindings.len(), 1);
}

#[test]
fn refused_datagrams_change_nothing() {
    let s = setup();
    let now = Instant::now();
    let good = acct(1, 1, [10, 77, 1, 8], "aa:bb:cc:dd:ee:01", SECRET);
    let stranger: SocketAddr = "192.0.2.1:1".parse().unwrap();
    let cases: Vec<(Vec<u8>, SocketAddr, &str, bool)> = vec![
        (good.clone(), stranger, "unknown_client", false),
        (
            acct(1, 1, [10, 77, 1, 8], "aa:bb:cc:dd:ee:01", b"wrong"),
            nas(),
            "bad_authenticator",
            false,
        ),
        (good[..30].to_vec(), nas(), "malformed", false),
        (vec![0u8; 3], nas(), "malformed", false),
        (
            packet::request(1, &[(FRAMED_IP, &[10, 77, 1, 8])], SECRET),
            nas(),
            "malformed",
            false,
        ),
        // Unknown and retired MACs are answered, never bound.
        (
            acct(2, 1, [10, 77, 1, 8], "aa:bb:cc:dd:ee:99", SECRET),
            nas(),
            "unknown_mac",
            true,
        ),
        (
            acct(3, 1, [10, 77, 1, 8], "aa:bb:cc:dd:ee:03", SECRET),
            nas(),
            "unknown_mac",
            true,
        ),
    ];
    for (bytes, from, result, answered) in cases {
        let out = s.acct.handle(&bytes, from, now);
        assert_eq!(out.result, result);
        assert_eq!(out.answer.is_some(), answered, "{result}");
        assert!(out.changes.is_empty());
    }
    assert!(s.acct.bindings.is_empty());
}

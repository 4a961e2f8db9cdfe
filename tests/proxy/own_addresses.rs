//! A proxy listening on a wildcard address (`0.0.0.0`) answers on every local address,
//! so every local address at a listener's port is its own and refused as a destination
//! (no loop through itself, no way round to the admin port). The host needs an address
//! besides loopback: the test runs again in a network namespace of its own, gives it a
//! LAN-like address on a veth pair, and listens there on `0.0.0.0`.

use tokio::io::AsyncWriteExt;

use crate::support::*;

/// The namespace's own non-loopback address.
const LAN: &str = "10.99.0.1";

#[tokio::test]
async fn wildcard_listeners_own_every_local_address() {
    if ran_in_own_netns("own_addresses::wildcard_listeners_own_every_local_address").await {
        return;
    }
    netns_cmd(&[
        "ip", "link", "add", "sb-lan0", "type", "veth", "peer", "name", "sb-lan1",
    ]);
    netns_cmd(&["ip", "addr", "add", &format!("{LAN}/24"), "dev", "sb-lan0"]);
    netns_cmd(&["ip", "link", "set", "sb-lan0", "up"]);
    netns_cmd(&["ip", "link", "set", "sb-lan1", "up"]);

    // Ports picked in a namespace where nothing else runs.
    let free = || {
        let l = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (port, admin) = (free(), free());
    let closed = free();
    let proxy = Proxy::start_on(
        Opts {
            connect_ports: vec![port, admin],
            admin_listen: format!("0.0.0.0:{admin}"),
            names: vec!["lan-alias.test".into()],
            overrides: vec![("lan.test", LAN)],
            ..Opts::default()
        },
        &format!("0.0.0.0:{port}"),
    )
    .await;
    let auth = Some(("fed-cov", "tok-cov"));
    // Clients reach the proxy at its LAN address, as devices would.
    let front: std::net::SocketAddr = format!("{LAN}:{port}").parse().unwrap();

    for target in [
        format!("{LAN}:{port}"),
        format!("{LAN}:{admin}"),
        format!("lan.test:{port}"),
        format!("lan.test:{admin}"),
        format!("127.0.0.1:{port}"),
        format!("lan-alias.test:{admin}"),
    ] {
        // Plain HTTP.
        let mut s = connect(front).await;
        s.write_all(get(&format!("http://{target}/"), &target, auth, "").as_bytes())
            .await
            .unwrap();
        let resp = read_response(&mut s, false).await;
        assert_eq!(resp.status, 403, "GET {target}: {resp:?}");
        assert!(
            resp.header("proxy-status")
                .unwrap()
                .contains("error=destination_ip_prohibited"),
            "GET {target}: {resp:?}"
        );
        let event = proxy.event(&resp.event_id()).await;
        assert_eq!(event["event"]["reason"], "destination_prohibited", "{target}");

        // CONNECT: refused before the 200.
        let (_s, resp) = connect_tunnel(front, &target, auth).await;
        assert_eq!(resp.status, 403, "CONNECT {target}: {resp:?}");
        assert!(resp
            .header("proxy-status")
            .unwrap()
            .contains("error=destination_ip_prohibited"));
    }

    // Another port at the same address is not the proxy: it is tried (and refused by
    // the host, as nothing listens there).
    let mut s = connect(front).await;
    let target = format!("{LAN}:{closed}");
    s.write_all(get(&format!("http://{target}/"), &target, auth, "").as_bytes())
        .await
        .unwrap();
    let resp = read_response(&mut s, false).await;
    assert_eq!(resp.status, 502, "{resp:?}");
    proxy.stop().await;
}

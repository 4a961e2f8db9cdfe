//! A destination name that does not resolve. A real lookup failure needs a resolver that
//! answers "no": rather than send a query beyond loopback, the test runs itself again in
//! a network namespace of its own (`unshare --net --map-root-user`), where only loopback
//! exists. There the system resolver (getaddrinfo, as in production) fails at once
//! (its nameserver is unreachable), and the proxy and the client both live on the
//! namespace's loopback.

use std::process::Stdio;
use std::time::Duration;

use crate::support::*;

/// Set in the child that runs inside the namespace.
const INSIDE: &str = "SLAGBOOM_TEST_INSIDE_NETNS";

#[tokio::test]
async fn unresolvable_names_answer_502_dns_error() {
    if std::env::var_os(INSIDE).is_some() {
        inside_namespace().await;
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let mut child = tokio::process::Command::new("unshare")
        .args(["--net", "--map-root-user", "--"])
        .arg(exe)
        .args(["dns::unresolvable_names_answer_502_dns_error", "--exact", "--nocapture"])
        .env(INSIDE, "1")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("unshare (util-linux) runs");
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("the test inside the network namespace finishes in 60 s (killed otherwise)")
        .unwrap();
    assert!(
        status.success(),
        "the test inside the network namespace failed ({status}); it needs root or \
         unprivileged user namespaces for `unshare --net --map-root-user`"
    );
}

async fn inside_namespace() {
    let up = std::process::Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .expect("ip (iproute2) runs");
    assert!(up.success(), "ip link set lo up: {up}");
    let proxy = Proxy::start(Opts::default()).await;
    let auth = Some(("fed-cov", "tok-cov"));

    // Plain HTTP: the lookup happens before any answer, so the client gets the 502.
    let resp = raw(proxy.addr, &get("http://nx.example/", "nx.example", auth, "")).await;
    assert_eq!(resp.status, 502, "{resp:?}");
    assert!(
        resp.header("proxy-status").unwrap().contains("error=dns_error"),
        "{resp:?}"
    );
    let event = proxy.event(&resp.event_id()).await;
    assert_eq!(event["event"]["reason"], "upstream_dns_failed");
    assert_eq!(event["event"]["action"], "error");
    assert_eq!(event["destination"]["domain"], "nx.example");

    // CONNECT: the name is resolved before the 200 (SPEC §6), so the failure is an
    // HTTP answer too, and no tunnel is opened.
    let (_, resp) = connect_tunnel(proxy.addr, "nx.example:443", auth).await;
    assert_eq!(resp.status, 502, "{resp:?}");
    assert!(
        resp.header("proxy-status").unwrap().contains("error=dns_error"),
        "{resp:?}"
    );
    let event = proxy.event(&resp.event_id()).await;
    assert_eq!(event["event"]["reason"], "upstream_dns_failed");
    assert_eq!(event["event"]["action"], "error");
    assert_eq!(event["destination"]["domain"], "nx.example");
    proxy.stop().await;
}

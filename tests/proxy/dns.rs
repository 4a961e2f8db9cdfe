//! A destination name that does not resolve. A real lookup failure needs a resolver that
//! answers "no": rather than send a query beyond loopback, the test runs itself again in
//! a network namespace of its own (`unshare --net --map-root-user`), where only loopback
//! exists. There the system resolver (getaddrinfo, as in production) fails at once
//! (its nameserver is unreachable), and the proxy and the client both live on the
//! namespace's loopback.

use crate::support::*;

#[tokio::test]
async fn unresolvable_names_answer_502_dns_error() {
    if ran_in_own_netns("dns::unresolvable_names_answer_502_dns_error").await {
        return;
    }
    let proxy = Proxy::start(Opts::default()).await;
    let auth = Some(("fed-cov", "tok-cov"));

    // Plain HTTP: the lookup happens before any answer, so the client gets the 502.
    // CONNECT: the name is resolved before the 200 (SPEC §6), so the failure is an
    // HTTP answer too, and no tunnel is opened.
    let plain = raw(proxy.addr, &get("http://nx.example/", "nx.example", auth, "")).await;
    let (_, tunnel) = connect_tunnel(proxy.addr, "nx.example:443", auth).await;
    for resp in [plain, tunnel] {
        assert_eq!(resp.status, 502, "{resp:?}");
        assert!(
            resp.header("proxy-status").unwrap().contains("error=dns_error"),
            "{resp:?}"
        );
        let event = proxy.event(&resp.event_id()).await;
        assert_eq!(event["event"]["reason"], "upstream_dns_failed");
        assert_eq!(event["event"]["action"], "error");
        assert_eq!(event["destination"]["domain"], "nx.example");
    }
    proxy.stop().await;
}

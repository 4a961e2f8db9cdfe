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

/// Thousands of names that do not resolve, distinct so no cache answers: each a 502,
/// and no file descriptor is left behind (the resolver's sockets included).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_dns_failures_leak_no_descriptor() {
    if ran_in_own_netns("dns::thousands_of_dns_failures_leak_no_descriptor").await {
        return;
    }
    let proxy = Proxy::start(Opts::default()).await;
    let auth = Some(("fed-cov", "tok-cov"));
    let fds = || std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0);
    assert_eq!(
        raw(proxy.addr, &get("http://warm.example/", "warm.example", auth, ""))
            .await
            .status,
        502
    );
    let before = fds();
    for round in 0..20 {
        let mut all = tokio::task::JoinSet::new();
        for i in 0..50 {
            let addr = proxy.addr;
            all.spawn(async move {
                let host = format!("nx-{round}-{i}.example");
                let (_, resp) = connect_tunnel(addr, &format!("{host}:443"), auth).await;
                resp.status
            });
        }
        while let Some(status) = all.join_next().await {
            assert_eq!(status.unwrap(), 502);
        }
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let after = fds();
    assert!(
        after <= before + 8,
        "descriptors: {before} before, {after} after 1,000 failed lookups"
    );
    proxy.stop().await;
}

use super::*;

/// The reference configuration of the specification, with every optional key that is
/// not for a later part switched on.
const REFERENCE: &str = r#"
[proxy]
name = "slagboom-1"
listen = "127.0.0.1:3128"
connect_ports = [443, 8443]
allow_destinations = []
deny_destinations = []
require_sni_for_covered = false
dns_overrides = { }

[proxy.limits]
max_connections = 50000
header_bytes = 65536
header_timeout = "30s"
client_hello_timeout = "10s"
client_hello_bytes = 65536
idle_timeout = "15m"
connect_timeout = "10s"
auth_failures_per_minute = 30
shutdown_grace = "30s"

[admin]
listen = "127.0.0.1:9090"
reload_token_file = "certs/admin.token"

[pac]
proxy = "127.0.0.1:3128"
https_proxy = "proxy.example.internal:3129"
direct_suffixes = [".intranet.example"]
direct_networks = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
fallback = "DIRECT"

[registry]
source = "registry/devices.csv"
poll = "30s"
max_shrink = 0.5
ca_file = "certs/registry-ca.pem"

[auth]
methods = ["client-cert", "token", "source-ip"]
unknown_device = "deny"

[rules]
dir = "rules"

[[policy]]
id = "be-federal-tiktok"
title = "Federal ban on TikTok on government-funded devices"
authorities = ["federal"]
rulesets = ["tiktok"]
covered = "block"
advisory = "warn"
private = "allow"
effective_from = "2023-03-10T00:00:00+01:00"
review_by = "2023-09-10T00:00:00+02:00"
reference = "National Security Council decision, 2023-03-10"
expires = "2099-01-01T00:00:00+01:00"

[block_page]
contact = "ICT helpdesk, ext. 1234"

[log]
spool_dir = "spool"
spool_max_bytes = 1073741824
on_spool_full = "refuse-new-connections"
fsync_interval = "1s"
tunnel_open_events = false

[[log.sink]]
type = "file"
format = "ecs"
path = "logs/events.jsonl"
name = "file-1"

[privacy]
pseudonymise_owner = false
allowed_detail = "host"
"#;

fn parse(text: &str) -> Result<Config, String> {
    Config::parse(Path::new("/etc/slagboom/slagboom.toml"), text).map_err(|e| e.to_string())
}

#[test]
fn reference_configuration_is_accepted_with_its_meaning() {
    let c = parse(REFERENCE).unwrap();
    assert_eq!(&*c.proxy.name, "slagboom-1");
    assert_eq!(c.proxy.listen, "127.0.0.1:3128".parse().unwrap());
    assert_eq!(c.proxy.connect_ports, [443, 8443]);
    assert_eq!(c.proxy.limits.idle_timeout, Duration::from_secs(900));
    assert_eq!(c.proxy.limits.max_connections, 50_000);
    assert_eq!(
        c.admin.reload_token_file,
        Some(PathBuf::from("/etc/slagboom/certs/admin.token"))
    );
    assert_eq!(c.pac.direct_suffixes, ["intranet.example"]);
    assert_eq!(c.pac.https_proxy.as_deref(), Some("proxy.example.internal:3129"));
    assert_eq!(
        c.registry.source,
        Source::File(PathBuf::from("/etc/slagboom/registry/devices.csv"))
    );
    assert_eq!(c.registry.source_line, 34);
    assert_eq!(
        c.auth.methods,
        [AuthMethod::ClientCert, AuthMethod::Token, AuthMethod::SourceIp]
    );
    assert_eq!(c.rules_dir, PathBuf::from("/etc/slagboom/rules"));
    assert_eq!(c.policies.len(), 1);
    assert_eq!(c.policies[0].rulesets, [("tiktok".to_owned(), 50)]);
    assert_eq!(c.log.sinks[0].name, "file-1");
    assert_eq!(
        c.log.sinks[0].path,
        Some(PathBuf::from("/etc/slagboom/logs/events.jsonl"))
    );
    assert_eq!(c.privacy.allowed_detail, AllowedDetail::Host);
}

#[test]
fn defaults_apply_when_keys_are_absent() {
    let c = parse("[registry]\nsource = \"devices.json\"\n").unwrap();
    assert_eq!(c.proxy.listen, "127.0.0.1:3128".parse().unwrap());
    assert_eq!(c.admin.listen, "127.0.0.1:9090".parse().unwrap());
    assert_eq!(c.proxy.connect_ports, [443, 8443]);
    let l = &c.proxy.limits;
    assert_eq!(
        (l.header_bytes, l.client_hello_bytes, l.auth_failures_per_minute),
        (65536, 65536, 30)
    );
    assert_eq!(l.header_timeout, Duration::from_secs(30));
    assert_eq!(l.connect_timeout, Duration::from_secs(10));
    assert_eq!(l.shutdown_grace, Duration::from_secs(30));
    assert_eq!(c.registry.max_shrink, 0.5);
    assert_eq!(c.registry.poll, Duration::from_secs(30));
    assert_eq!(c.auth.unknown_device, UnknownDevice::Deny);
    assert_eq!(c.pac.proxy, "127.0.0.1:3128");
    assert_eq!(c.pac.fallback, "DIRECT");
    assert_eq!(c.log.on_spool_full, OnSpoolFull::RefuseNewConnections);
    assert_eq!(c.log.fsync_interval, Duration::from_secs(1));
    assert_eq!(c.log.spool_max_bytes, 1 << 30);
    assert_eq!(c.log.sink_stall_timeout, Duration::from_secs(30));
}

#[test]
fn relp_sinks_and_the_stall_timeout() {
    let c = parse(
        "[registry]\nsource = \"d.csv\"\n[log]\nsink_stall_timeout = \"5s\"\n\
         [[log.sink]]\ntype = \"syslog\"\naddress = \"c:2514\"\ntransport = \"relp\"\n",
    )
    .unwrap();
    assert_eq!(c.log.sink_stall_timeout, Duration::from_secs(5));
    assert_eq!(c.log.sinks[0].transport, Transport::Relp);
    let err = parse(
        "[registry]\nsource = \"d.csv\"\n[[log.sink]]\ntype = \"syslog\"\naddress = \"c:2514\"\ntransport = \"relp\"\nca_file = \"x\"\n",
    )
    .unwrap_err();
    assert!(err.contains("key ca_file does not apply to this syslog sink"), "{err}");
}

#[test]
fn errors_are_one_line_with_the_line_number() {
    let cases = [
        ("[registry]\nsource = \"d.csv\"\n[proxy]\nlisten = \"nowhere\"\n", "slagboom.toml:4: invalid socket address syntax"),
        ("[registry]\nsource = \"d.csv\"\n\n[proxy.limits]\nidle_timeout = \"forever\"\n", "slagboom.toml:5: invalid duration \"forever\""),
        ("[registry]\nsource = \"d.txt\"\n", "slagboom.toml:2: registry source must end in .csv or .json"),
        ("[registry]\nsource = \"ftp://x/d.csv\"\n", "slagboom.toml:2: registry source must be a path or an https:// URL"),
        ("[registry]\nsource = \"d.csv\"\nmax_shrink = 2.0\n", "slagboom.toml:3: max_shrink must be between 0 and 1"),
        ("[registry]\nsource = \"d.csv\"\n[auth]\nmethods = [\"token\", \"password\"]\n", "slagboom.toml:4: unknown variant `password`"),
        ("[registry]\nsource = \"d.csv\"\n[proxy]\ndns_overrides = { \"bad name\" = \"127.0.0.1\" }\n", "slagboom.toml:4: dns_overrides: \"bad name\""),
        ("[registry]\nsource = \"d.csv\"\n[proxy]\ntls_listen = \"0.0.0.0:3129\"\n", "slagboom.toml:4: tls_listen needs tls_cert"),
        ("[registry]\nsource = \"d.csv\"\n[[log.sink]]\ntype = \"syslog\"\n", "slagboom.toml:3: a syslog sink needs an address (host:port)"),
        ("[registry]\nsource = \"d.csv\"\n[[log.sink]]\ntype = \"syslog\"\naddress = \"collector\"\n", "slagboom.toml:3: syslog address \"collector\" is not host:port"),
        ("[registry]\nsource = \"d.csv\"\n[[log.sink]]\ntype = \"syslog\"\naddress = \"c:514\"\nclient_cert = \"x\"\n", "slagboom.toml:3: key client_cert does not apply to this syslog sink"),
        ("[registry]\nsource = \"d.csv\"\n[[log.sink]]\ntype = \"http\"\nurl = \"https://s:8088/x\"\n", "slagboom.toml:3: an http sink needs a flavour"),
        ("[registry]\nsource = \"d.csv\"\n[[log.sink]]\ntype = \"http\"\nflavour = \"splunk-hec\"\nurl = \"https://s:8088/x\"\n", "slagboom.toml:3: a splunk-hec sink needs a token_file"),
        ("[registry]\nsource = \"d.csv\"\n[[log.sink]]\ntype = \"file\"\npath = \"x\"\nfacility = \"local9\"\nformat = \"cef\"\n", "slagboom.toml:3: unknown syslog facility \"local9\""),
        ("[registry]\nsource = \"d.csv\"\n[[log.sink]]\ntype = \"stdout\"\npath = \"x\"\n", "slagboom.toml:3: key path does not apply to this stdout sink"),
        ("[registry]\nsource = \"d.csv\"\n[[log.sink]]\ntype = \"file\"\n", "slagboom.toml:3: a file sink needs a path"),
        ("[registry]\nsource = \"d.csv\"\n[privacy]\npseudonymise_owner = true\n", "slagboom.toml:3: pseudonymise_owner needs key_file"),
        ("[registry]\nsource = \"d.csv\"\n[[policy]]\nid = \"p\"\ntitle = \"t\"\nauthorities = []\nrulesets = [\"r\"]\ncovered = \"block\"\nadvisory = \"warn\"\nprivate = \"allow\"\neffective_from = \"2023-03-10T00:00:00+01:00\"\nreference = \"r\"\n", "slagboom.toml:6: policy \"p\" names no authority"),
        ("[registry]\nsource = \"d.csv\"\n[[policy]]\nid = \"p\"\ntitle = \"t\"\nauthorities = [\"a\"]\nrulesets = [\"r\"]\ncovered = \"deny\"\n", "slagboom.toml:8: unknown variant `deny`"),
        ("[registry]\nsource = \"d.csv\"\n[[policy]]\nid = \"p\"\ntitle = \"t\"\nauthorities = [\"a\"]\nrulesets = [\"r\"]\ncovered = \"block\"\nadvisory = \"warn\"\nprivate = \"allow\"\neffective_from = \"2023-03-10\"\nreference = \"r\"\n", "slagboom.toml:11: invalid RFC 3339 date"),
    ];
    for (text, want) in cases {
        let got = Config::parse(Path::new("slagboom.toml"), text).unwrap_err().to_string();
        assert!(got.starts_with(want), "got {got:?}, want {want:?}");
        assert!(!got.contains('\n'), "{got}");
    }
}

#[test]
fn secrets_are_not_printed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("k"), "very-secret-key\n\n").unwrap();
    let text = "[registry]\nsource = \"d.csv\"\n[privacy]\npseudonymise_owner = true\nkey_file = \"k\"\n";
    let c = Config::parse(&dir.path().join("s.toml"), text).unwrap();
    assert_eq!(c.privacy.pseudonym_key, Some(Secret(b"very-secret-key".to_vec())));
    assert!(!format!("{c:?}").contains("very-secret"));
}

#[test]
fn sink_tokens_are_not_printed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hec.token"), "super-secret-hec-token\n").unwrap();
    let text = "[registry]\nsource = \"d.csv\"\n[[log.sink]]\ntype = \"http\"\nflavour = \"splunk-hec\"\nurl = \"http://127.0.0.1:8088/services/collector/event\"\ntoken_file = \"hec.token\"\n";
    let c = Config::parse(&dir.path().join("s.toml"), text).unwrap();
    assert_eq!(c.log.sinks[0].token, Some(Secret(b"super-secret-hec-token".to_vec())));
    assert_eq!(c.log.sinks[0].name, "http-1");
    assert!(!format!("{c:?}").contains("super-secret"));
    let missing = "[registry]\nsource = \"d.csv\"\n[[log.sink]]\ntype = \"http\"\nflavour = \"splunk-hec\"\nurl = \"http://x:1/\"\ntoken_file = \"nope\"\n";
    let e = Config::parse(&dir.path().join("s.toml"), missing)
        .unwrap_err()
        .to_string();
    assert!(e.contains("token_file") && e.contains("nope"), "{e}");
}

/// A TOML parser's message over several lines becomes one line (found by fuzzing the
/// loader with a cut demo configuration).
#[test]
fn toml_syntax_errors_are_one_line() {
    let e = Config::parse(Path::new("slagboom.toml"), "[proxy]\n[lo\ng]\n").unwrap_err();
    assert!(!e.to_string().contains('\n'), "{e}");
    assert!(e.to_string().starts_with("slagboom.toml:2: "), "{e}");
}

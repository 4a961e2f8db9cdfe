//! The PAC file served at `/proxy.pac` and `/wpad.dat` and printed by `slagboom pac`.
//!
//! Plain host names, the configured intranet suffixes and IP literals inside
//! `direct_networks` go `DIRECT`; everything else goes to the proxy (`HTTPS` first when
//! `https_proxy` is set), then `fallback`. The script never calls `dnsResolve` or
//! `isInNet` on a name: address checks run only on IP literals, in plain JavaScript.

use std::fmt::Write as _;

use ipnet::IpNet;

use crate::config::PacConfig;

/// Renders the PAC script.
pub fn render(cfg: &PacConfig) -> String {
    let mut js = String::with_capacity(2048);
    js.push_str("// slagboom proxy auto-configuration. Generated from [pac] in slagboom.toml.\n");
    js.push_str("function FindProxyForURL(url, host) {\n");
    js.push_str("  host = host.toLowerCase();\n");
    js.push_str("  if (host.charAt(host.length - 1) == \".\") host = host.substring(0, host.length - 1);\n");
    js.push_str("  if (host.charAt(0) == \"[\") host = host.substring(1, host.length - 1);\n");
    js.push_str("  if (isPlainHostName(host) && host.indexOf(\":\") < 0) return \"DIRECT\";\n");
    for suffix in &cfg.direct_suffixes {
        let _ = writeln!(
            js,
            "  if (host == {q} || dnsDomainIs(host, {dq})) return \"DIRECT\";",
            q = quote(suffix),
            dq = quote(&format!(".{suffix}"))
        );
    }
    let (v4, v6): (Vec<&IpNet>, Vec<&IpNet>) = cfg.direct_networks.iter().partition(|n| matches!(n, IpNet::V4(_)));
    if !v4.is_empty() {
        js.push_str("  var a = slagboomV4(host);\n  if (a !== null) {\n");
        for n in v4 {
            if let IpNet::V4(n) = n {
                let _ = writeln!(
                    js,
                    "    if (slagboomInV4(a, {}, {})) return \"DIRECT\";  // {n}",
                    u32::from(n.network()),
                    n.prefix_len()
                );
            }
        }
        js.push_str("  }\n");
    }
    if !v6.is_empty() {
        js.push_str("  var b = slagboomV6(host);\n  if (b !== null) {\n");
        for n in v6 {
            if let IpNet::V6(n) = n {
                let hextets: Vec<String> = n.network().segments().iter().map(|s| s.to_string()).collect();
                let _ = writeln!(
                    js,
                    "    if (slagboomInV6(b, [{}], {})) return \"DIRECT\";  // {n}",
                    hextets.join(","),
                    n.prefix_len()
                );
            }
        }
        js.push_str("  }\n");
    }
    let _ = writeln!(js, "  return {};", quote(&route(cfg)));
    js.push_str("}\n");
    js.push_str(HELPERS);
    js
}

/// The proxy list for everything not sent direct.
fn route(cfg: &PacConfig) -> String {
    let mut parts = Vec::new();
    if let Some(https) = &cfg.https_proxy {
        parts.push(format!("HTTPS {https}"));
    }
    parts.push(format!("PROXY {}", cfg.proxy));
    let fallback = cfg.fallback.trim();
    if !fallback.is_empty() {
        parts.push(fallback.to_owned());
    }
    parts.join("; ")
}

/// A JavaScript string literal (config values are plain ASCII; quote anyway).
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_ascii_graphic() || c == ' ' => out.push(c),
            c => {
                let _ = write!(out, "\\u{:04x}", u32::from(c) & 0xffff);
            }
        }
    }
    out.push('"');
    out
}

const HELPERS: &str = r#"
// A dotted-quad IPv4 literal as a number, or null (never resolves a name).
function slagboomV4(h) {
  var m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  if (!m) return null;
  var n = 0;
  for (var i = 1; i <= 4; i++) {
    var o = parseInt(m[i], 10);
    if (o > 255) return null;
    n = n * 256 + o;
  }
  return n;
}
function slagboomInV4(a, net, len) {
  if (len == 0) return true;
  var size = Math.pow(2, 32 - len);
  return Math.floor(a / size) == Math.floor(net / size);
}
// An IPv6 literal as 8 numbers, or null.
function slagboomV6(h) {
  if (h.indexOf(":") < 0 || !/^[0-9a-f:.]+$/.test(h)) return null;
  var halves = h.split("::");
  if (halves.length > 2) return null;
  function part(s) {
    if (s == "") return [];
    var out = [], items = s.split(":");
    for (var i = 0; i < items.length; i++) {
      var v4 = slagboomV4(items[i]);
      if (v4 !== null && i == items.length - 1) { out.push(Math.floor(v4 / 65536), v4 % 65536); continue; }
      if (!/^[0-9a-f]{1,4}$/.test(items[i])) return null;
      out.push(parseInt(items[i], 16));
    }
    return out;
  }
  var head = part(halves[0]), tail = halves.length == 2 ? part(halves[1]) : [];
  if (head === null || tail === null) return null;
  var fill = 8 - head.length - tail.length;
  if (halves.length == 1 ? fill != 0 : fill < 1) return null;
  var out = head.slice(0);
  for (var j = 0; j < fill; j++) out.push(0);
  return out.concat(tail);
}
function slagboomInV6(a, net, len) {
  for (var i = 0; i < 8 && len > 0; i++, len -= 16) {
    var bits = len >= 16 ? 16 : len, size = Math.pow(2, 16 - bits);
    if (Math.floor(a[i] / size) != Math.floor(net[i] / size)) return false;
  }
  return true;
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> PacConfig {
        PacConfig {
            proxy: "proxy.example:3128".into(),
            https_proxy: Some("proxy.example:3129".into()),
            direct_suffixes: vec!["intranet.example".into()],
            direct_networks: vec!["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()],
            fallback: "DIRECT".into(),
        }
    }

    #[test]
    fn routes_and_never_resolves() {
        let js = render(&cfg());
        assert!(js.contains("return \"HTTPS proxy.example:3129; PROXY proxy.example:3128; DIRECT\";"));
        assert!(js.contains("dnsDomainIs(host, \".intranet.example\")"));
        assert!(js.contains("host == \"intranet.example\""));
        assert!(!js.contains("dnsResolve"));
        assert!(!js.contains("isInNet"));
        let mut c = cfg();
        c.https_proxy = None;
        c.fallback = String::new();
        assert!(render(&c).contains("return \"PROXY proxy.example:3128\";"));
    }
}

//! `slagboom check`: runs the loader `run` uses and prints a summary.

use std::path::Path;

use time::OffsetDateTime;

use super::Failure;
use crate::policy::Window;
use crate::registry::Coverage;
use crate::state::Snapshot;

pub fn check(path: &Path) -> Result<(), Failure> {
    let snap = Snapshot::load(path).map_err(Failure::input)?;
    let now = OffsetDateTime::now_utc();
    let cfg = &snap.config;
    println!("{}: ok", path.display());
    println!("  policy_version {}", snap.policy_version);
    println!("  proxy     {} (observer {})", cfg.proxy.listen, cfg.proxy.name);
    if let Some(t) = cfg.proxy.transparent_listen {
        println!(
            "  transparent {t} (REDIRECT target; other protocols: {:?})",
            cfg.proxy.transparent_other
        );
    }
    if let Some(r) = &cfg.radius {
        let clients: Vec<String> = r.clients.iter().map(|c| c.network.to_string()).collect();
        println!(
            "  radius    {} (clients {}; bindings live {})",
            r.listen,
            clients.join(", "),
            humantime::format_duration(r.binding_ttl)
        );
    }
    if let Some(t) = &cfg.proxy.tls {
        let certs = if t.client_ca.is_some() {
            "device certificates from client_ca"
        } else {
            "no device certificates"
        };
        println!("  tls       {} (HTTPS proxy port; {certs})", t.listen);
    }
    if let (Some(i), Some(ca)) = (&cfg.intercept, &snap.block_ca) {
        println!(
            "  intercept CA {} ({} permitted names; leaves live {}, {} cached; advice pages {})",
            i.ca_cert.display(),
            ca.permitted().len(),
            humantime::format_duration(i.leaf_lifetime),
            i.leaf_cache,
            if i.advice_pages { "on" } else { "off" }
        );
    }
    println!("  admin     {}", cfg.admin.listen);
    let counts: Vec<String> = Coverage::ALL
        .iter()
        .map(|c| format!("{} {c}", snap.registry.count(*c)))
        .collect();
    println!("  registry  {} devices ({})", snap.registry.len(), counts.join(", "));
    for rs in snap.rules.rulesets() {
        println!(
            "  ruleset   {} \"{}\": {} rules ({})",
            rs.id,
            rs.title,
            rs.rules,
            rs.file.display()
        );
    }
    for p in &snap.policies {
        let state = match p.window(now) {
            Window::NotYet => "not yet in force",
            Window::InForce { overdue: false } => "in force",
            Window::InForce { overdue: true } => "in force, REVIEW OVERDUE",
            Window::Expired => "expired",
        };
        println!("  policy    {} [{}]: {state}", p.id, p.authorities.join(", "));
    }
    for s in &cfg.log.sinks {
        println!("  sink      {} ({:?}, {:?})", s.name, s.kind, s.format);
    }
    if let Some(ca) = &snap.block_ca {
        let outgrown = crate::tls::ca::outgrown(&snap, ca);
        if !outgrown.is_empty() {
            println!(
                "warning: the block-page CA does not permit these blocked names (the rules changed after it was made; run `slagboom ca init --force` and roll it out again): {}",
                outgrown.join(", ")
            );
        }
    }
    for (key, path, off) in [
        (
            "reload_token_file",
            &cfg.admin.reload_token_file,
            "POST /reload stays disabled",
        ),
        (
            "helpdesk_token_file",
            &cfg.admin.helpdesk_token_file,
            "/helpdesk stays 404",
        ),
    ] {
        if let Some(path) = path {
            for (warning, disables) in secret_file_warnings(path) {
                let consequence = if disables { format!("; {off}") } else { String::new() };
                println!("warning: [admin] {key} {}: {warning}{consequence}", path.display());
            }
        }
    }
    if cfg.admin.helpdesk_token_file.is_some() {
        println!(
            "  helpdesk  http://{}/helpdesk (the last {} events kept)",
            cfg.admin.listen, cfg.admin.helpdesk_recent_events
        );
    }
    let overdue = snap.overdue_policies(now);
    if !overdue.is_empty() {
        let ids: Vec<&str> = overdue.iter().map(|p| p.id.as_str()).collect();
        println!("warning: policies past their review date: {}", ids.join(", "));
    }
    Ok(())
}

/// What is wrong with a file that holds a password: unreadable or empty (true: the
/// feature it guards stays off), or readable by group or others.
fn secret_file_warnings(path: &std::path::Path) -> Vec<(String, bool)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    match std::fs::read(path) {
        Err(e) => out.push((format!("cannot be read: {e}"), true)),
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => out.push(("is empty".into(), true)),
        Ok(_) => {}
    }
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            out.push(("is readable by group or others (chmod 600 it)".into(), false));
        }
    }
    out
}

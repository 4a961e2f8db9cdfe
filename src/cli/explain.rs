//! `slagboom explain`: the decision for a device and a host, with every reason. It
//! calls the same decision function as traffic does.

use std::path::PathBuf;

use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::Failure;
use crate::config::UnknownDevice;
use crate::host::Host;
use crate::policy::{Subject, Window};
use crate::registry::{Device, Share, Status};
use crate::state::Snapshot;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Configuration file.
    #[arg(short = 'c', long = "config", default_value = "slagboom.toml")]
    pub config: PathBuf,
    /// Registry device id.
    #[arg(long)]
    pub device: String,
    /// Destination host (name or IP literal; a port is ignored).
    #[arg(long)]
    pub host: String,
    /// Decide as at this time (RFC 3339) instead of now.
    #[arg(long)]
    pub at: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

fn share(s: Share) -> &'static str {
    match s {
        Share::None => "none",
        Share::Partial => "partial",
        Share::Full => "full",
    }
}

fn window(w: Window) -> &'static str {
    match w {
        Window::NotYet => "not_yet_in_force",
        Window::InForce { overdue: false } => "in_force",
        Window::InForce { overdue: true } => "in_force_review_overdue",
        Window::Expired => "expired",
    }
}

pub fn explain(args: &Args) -> Result<(), Failure> {
    let snap = Snapshot::load(&args.config).map_err(Failure::input)?;
    let host = Host::parse_authority(&args.host)
        .map(|(h, _)| h)
        .map_err(|e| Failure::input(format!("--host {:?}: {e}", args.host)))?;
    let at = match &args.at {
        Some(t) => OffsetDateTime::parse(t, &Rfc3339).map_err(|e| Failure::input(format!("--at {t:?}: {e}")))?,
        None => OffsetDateTime::now_utc(),
    };
    let device = snap.registry.by_id(&args.device).map(|d| snap.registry.device(d));
    let mode = snap.config.auth.unknown_device;
    let subject = match device {
        Some(d) => Subject::Device(d),
        None => Subject::Unknown(mode),
    };
    let e = snap.explain(&subject, &host, at);
    let refused = match (device, mode) {
        (Some(d), _) if d.status == Status::Retired => Some("device_retired"),
        (Some(d), _) if d.status == Status::Lost => Some("device_lost"),
        (None, UnknownDevice::Deny) => Some("credentials_missing"),
        _ => None,
    };
    let registry_file = match &snap.config.registry.source {
        crate::config::Source::File(p) => p.display().to_string(),
        crate::config::Source::Url(u) => u.clone(),
    };
    let hit = e.decision.hit.map(|h| {
        let p = &snap.policies[h.policy];
        json!({
            "policy": p.id, "title": p.title, "reference": p.reference,
            "ruleset": snap.rules.ruleset(h.ruleset).id, "rule": snap.rules.rule(h.rule).text,
        })
    });
    let verdict = match refused {
        Some(reason) => reason.to_owned(),
        None => e.decision.action.as_str().to_owned(),
    };
    let policies: Vec<_> = e
        .policies
        .iter()
        .map(|t| {
            let p = &snap.policies[t.policy];
            json!({
                "id": p.id,
                "authorities": p.authorities,
                "window": window(t.window),
                "applies": t.applies,
                "ruleset": t.matched.map(|m| snap.rules.ruleset(m.ruleset).id.clone()),
                "rule": t.matched.map(|m| snap.rules.rule(m.rule).text.clone()),
                "action": t.action.as_str(),
                "decides": e.decision.hit.is_some_and(|h| h.policy == t.policy),
            })
        })
        .collect();
    let matches: Vec<_> = e
        .matches
        .iter()
        .map(|m| json!({"ruleset": snap.rules.ruleset(m.ruleset).id, "rule": snap.rules.rule(m.rule).text}))
        .collect();
    let device_json = device.map(|d| device_json(d, &registry_file));
    let out = json!({
        "device": device_json,
        "device_id": args.device,
        "coverage": e.decision.coverage.as_str(),
        "host": host.as_str(),
        "at": at.format(&Rfc3339).unwrap_or_default(),
        "matches": matches,
        "policies": policies,
        "decision": verdict,
        "refused": refused,
        "hit": hit,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        return Ok(());
    }
    print_text(&snap, args, device, &registry_file, &out, &e);
    Ok(())
}

fn device_json(d: &Device, file: &str) -> serde_json::Value {
    json!({
        "id": &*d.id, "authority": &*d.authority,
        "organisation": d.organisation.as_deref(),
        "purchase": share(d.purchase), "subscription": share(d.subscription), "usage": share(d.usage),
        "professional_use": d.professional_use,
        "status": format!("{:?}", d.status).to_lowercase(),
        "source": format!("{file}:{}", d.line),
    })
}

fn print_text(
    snap: &Snapshot,
    args: &Args,
    device: Option<&Device>,
    file: &str,
    out: &serde_json::Value,
    e: &crate::policy::Explanation,
) {
    match device {
        Some(d) => {
            println!("device      {} ({file}:{})", d.id, d.line);
            println!("  authority     {}", d.authority);
            println!("  organisation  {}", d.organisation.as_deref().unwrap_or("-"));
            println!(
                "  shares        purchase {}, subscription {}, usage {}; professional_use {}",
                share(d.purchase),
                share(d.subscription),
                share(d.usage),
                d.professional_use
            );
            println!("  status        {}", format!("{:?}", d.status).to_lowercase());
        }
        None => println!(
            "device      {} is not in the registry: unknown device (unknown_device = {:?})",
            args.device, snap.config.auth.unknown_device
        ),
    }
    let why = match e.decision.coverage {
        crate::registry::Coverage::Covered => "the authority pays part or all of its purchase, subscription or use",
        crate::registry::Coverage::Advisory => "personal device used for work: advised, not banned",
        crate::registry::Coverage::Private => "not paid for and not used for work",
    };
    println!("coverage    {} ({why})", e.decision.coverage);
    println!("host        {}", out["host"].as_str().unwrap_or(""));
    println!("at          {}", out["at"].as_str().unwrap_or(""));
    if e.matches.is_empty() {
        println!("rulesets    no ruleset lists this host");
    }
    for m in &e.matches {
        println!(
            "ruleset     {} matches (rule {})",
            snap.rules.ruleset(m.ruleset).id,
            snap.rules.rule(m.rule).text
        );
    }
    for t in &e.policies {
        let p = &snap.policies[t.policy];
        let mut line = format!("policy      {}: {}", p.id, window(t.window).replace('_', " "));
        if !t.applies {
            line.push_str(&format!("; does not apply (authorities {})", p.authorities.join(", ")));
        } else if let Some(m) = t.matched {
            line.push_str(&format!(
                "; ruleset {} matches; {} for {}",
                snap.rules.ruleset(m.ruleset).id,
                t.action.as_str(),
                e.decision.coverage
            ));
        } else {
            line.push_str("; none of its rulesets lists the host");
        }
        if e.decision.hit.is_some_and(|h| h.policy == t.policy) {
            line.push_str("  <- decides");
        }
        println!("{line}");
    }
    if let Some(r) = out["refused"].as_str() {
        println!("decision    refused before any policy: {r}");
        return;
    }
    match e.decision.hit {
        Some(h) => {
            let p = &snap.policies[h.policy];
            println!(
                "decision    {} by {} \"{}\" ({}), ruleset {}, rule {}",
                e.decision.action.as_str(),
                p.id,
                p.title,
                p.reference,
                snap.rules.ruleset(h.ruleset).id,
                snap.rules.rule(h.rule).text
            );
        }
        None => println!("decision    allow (no policy in force for this device lists the host)"),
    }
}

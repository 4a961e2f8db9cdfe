//! `slagboom explain`: the decision for a device and a host, with every reason
//! ([`crate::explain::Report`], the same decision function as traffic).

use std::path::PathBuf;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::Failure;
use crate::explain::Report;
use crate::host::Host;
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

pub fn explain(args: &Args) -> Result<(), Failure> {
    let snap = Snapshot::load(&args.config).map_err(Failure::input)?;
    let host = Host::parse_authority(&args.host)
        .map(|(h, _)| h)
        .map_err(|e| Failure::input(format!("--host {:?}: {e}", args.host)))?;
    let at = match &args.at {
        Some(t) => OffsetDateTime::parse(t, &Rfc3339).map_err(|e| Failure::input(format!("--at {t:?}: {e}")))?,
        None => OffsetDateTime::now_utc(),
    };
    let report = Report::new(&snap, &args.device, host, at);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report.to_json()).unwrap_or_default()
        );
    } else {
        print!("{}", report.text());
    }
    Ok(())
}

//! `slagboom diff --from A.toml --to B.toml --events FILE [--json]`: recorded events
//! replayed under two configurations (each with its own registry, rules and policies),
//! and what would change (SPEC §14). It streams the file.

use std::io::BufReader;
use std::path::PathBuf;

use super::Failure;
use crate::policy::impact::Impact;
use crate::state::Snapshot;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The configuration in force.
    #[arg(long)]
    pub from: PathBuf,
    /// The configuration to compare with.
    #[arg(long)]
    pub to: PathBuf,
    /// ECS events, one JSON object a line (as the file sink writes them).
    #[arg(long)]
    pub events: PathBuf,
    /// One JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
}

pub fn diff(args: &Args) -> Result<(), Failure> {
    let from = Snapshot::load_without_keys(&args.from).map_err(Failure::input)?;
    let to = Snapshot::load_without_keys(&args.to).map_err(Failure::input)?;
    let file =
        std::fs::File::open(&args.events).map_err(|e| Failure::input(format!("{}: {e}", args.events.display())))?;
    let impact = Impact::replay(&from, &to, BufReader::with_capacity(1 << 20, file))
        .map_err(|e| Failure::runtime(format!("{}: {e}", args.events.display())))?;
    if args.json {
        println!("{}", impact.json());
    } else {
        print!("{}", impact.text());
    }
    Ok(())
}

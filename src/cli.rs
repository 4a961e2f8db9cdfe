//! The command line: `run`, `check`, `explain`, `pac`, `ca`, `test` and `diff`. Each subcommand is
//! a thin adapter in `cli/`; exit codes: 0 ok, 1 invalid input or configuration,
//! 2 runtime failure.

mod ca;
mod check;
mod diff;
mod explain;
mod run;
mod test;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::state::Snapshot;

/// slagboom: an egress proxy that enforces app bans on devices an organisation pays for.
#[derive(Debug, Parser)]
#[command(name = "slagboom", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the proxy.
    Run(ConfigArg),
    /// Validate configuration, rulesets and registry, and print a summary.
    Check(ConfigArg),
    /// Print the decision for a device and a host, with every reason.
    Explain(explain::Args),
    /// Print the PAC file the admin endpoint serves.
    Pac(ConfigArg),
    /// Replay recorded events under two configurations and report what would change.
    Diff(diff::Args),
    /// Run the policy tests (default: every `*.toml` in `[rules] tests`).
    Test {
        #[command(flatten)]
        config: ConfigArg,
        /// Case files instead of the configured directory.
        files: Vec<PathBuf>,
    },
    /// Certificate authority for block pages over HTTPS.
    Ca {
        #[command(subcommand)]
        command: CaCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create the block-page CA, constrained to the blocked domains.
    Init {
        #[command(flatten)]
        config: ConfigArg,
        /// Where to write the CA certificate and key (`ca.pem`, `ca-key.pem`).
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
        /// Overwrite an existing CA.
        #[arg(long)]
        force: bool,
    },
    /// Create a devices CA for the HTTPS proxy port (`devices-ca.pem`, `devices-ca-key.pem`).
    InitDevices {
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
        #[arg(long)]
        force: bool,
    },
    /// Issue a client certificate for a device from the devices CA; prints its cert_sha256.
    IssueDevice {
        /// With a configuration, an id the registry lacks is refused.
        #[arg(short = 'c', long = "config")]
        config: Option<PathBuf>,
        #[arg(long)]
        device: String,
        /// Where the devices CA is.
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
        /// Where to write `ID.pem` and `ID-key.pem` (default: `--dir`).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct ConfigArg {
    /// Configuration file.
    #[arg(short = 'c', long = "config", default_value = "slagboom.toml")]
    pub config: PathBuf,
}

/// A failure with its exit code; the message is one line.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn input(message: impl std::fmt::Display) -> Failure {
        Failure {
            code: 1,
            message: message.to_string(),
        }
    }

    pub fn runtime(message: impl std::fmt::Display) -> Failure {
        Failure {
            code: 2,
            message: message.to_string(),
        }
    }
}

/// Runs a parsed command line.
pub fn dispatch(cli: Cli) -> Result<(), Failure> {
    if !matches!(cli.command, Command::Run(_)) {
        crate::sys::default_sigpipe();
    }
    match cli.command {
        Command::Run(c) => run::run(&c.config),
        Command::Check(c) => check::check(&c.config),
        Command::Explain(args) => explain::explain(&args),
        Command::Pac(c) => {
            let snap = Snapshot::load(&c.config).map_err(Failure::input)?;
            print!("{}", crate::pac::render(&snap.config.pac));
            Ok(())
        }
        Command::Ca { command } => ca::ca(command),
        Command::Test { config, files } => test::test(&config.config, &files),
        Command::Diff(args) => diff::diff(&args),
    }
}

/// Entry point for `main`: parse, dispatch, map to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("{}", f.message);
            ExitCode::from(f.code)
        }
    }
}

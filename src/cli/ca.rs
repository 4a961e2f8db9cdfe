//! `slagboom ca init | init-devices | issue-device`: the certificate authorities.

use crate::state::Snapshot;
use crate::tls::ca;

use super::{CaCommand, Failure};

pub fn ca(command: CaCommand) -> Result<(), Failure> {
    let fail = |e: ca::CaError| match e {
        ca::CaError::Io(..) | ca::CaError::Rcgen(_) => Failure::runtime(e),
        _ => Failure::input(e),
    };
    match command {
        CaCommand::Init { config, dir, force } => {
            // The CA may not exist yet: `[intercept]` files are not read here.
            let snap = Snapshot::load_without_keys(&config.config).map_err(Failure::input)?;
            let constraints = ca::constraints(&snap);
            if !constraints.unconstrainable.is_empty() {
                eprintln!(
                    "warning: patterns and CIDRs cannot be name constraints; the CA does not cover: {}",
                    constraints.unconstrainable.join(", ")
                );
            }
            let issued = ca::block_page_ca(&constraints).map_err(fail)?;
            let (cert, key) = ca::write(&dir, "ca", &issued, force).map_err(fail)?;
            println!(
                "block-page CA {} (key {}), constrained to {} names",
                cert.display(),
                key.display(),
                constraints.permitted.len()
            );
            Ok(())
        }
        CaCommand::InitDevices { dir, force } => {
            let issued = ca::devices_ca().map_err(fail)?;
            let (cert, key) = ca::write(&dir, "devices-ca", &issued, force).map_err(fail)?;
            println!("devices CA {} (key {})", cert.display(), key.display());
            Ok(())
        }
        CaCommand::IssueDevice {
            config,
            device,
            dir,
            out,
            force,
        } => {
            if let Some(config) = config {
                let snap = Snapshot::load_without_keys(&config).map_err(Failure::input)?;
                if snap.registry.by_id(&device).is_none() {
                    return Err(Failure::input(format!("device {device:?} is not in the registry")));
                }
            }
            if device.is_empty() || !device.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
                return Err(Failure::input(format!("device id {device:?} must be [A-Za-z0-9._-]+")));
            }
            let read = |name: &str| {
                let path = dir.join(name);
                std::fs::read_to_string(&path).map_err(|e| Failure::input(format!("{}: {e}", path.display())))
            };
            let (ca_cert, ca_key) = (read("devices-ca.pem")?, read("devices-ca-key.pem")?);
            let issued = ca::issue_device(&ca_cert, &ca_key, &device).map_err(fail)?;
            ca::write(out.as_deref().unwrap_or(&dir), &device, &issued, force).map_err(fail)?;
            println!("cert_sha256 {}", hex::encode(issued.sha256));
            Ok(())
        }
    }
}

//! The funding registry: which device is paid for by which authority, and how.
//!
//! Loaded from CSV or JSON (same fields), checked row by row with line numbers, and
//! indexed by device id, token hash, certificate hash and source address (longest
//! prefix). Coverage is derived from the shares, never stored.

mod csv;
mod json;
mod mac;
pub mod remote;

pub use mac::Mac;

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use ipnet::IpNet;

use crate::config::LoadError;
use crate::prefix::PrefixTable;

/// The authority's share of a purchase, subscription or usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Share {
    None,
    Partial,
    Full,
}

impl Share {
    /// The share named `s` in a registry (`none`, `partial`, `full`).
    pub fn parse(s: &str) -> Option<Share> {
        match s {
            "none" => Some(Share::None),
            "partial" => Some(Share::Partial),
            "full" => Some(Share::Full),
            _ => None,
        }
    }
}

/// Lifecycle state of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    Retired,
    Lost,
}

/// How a policy sees a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Coverage {
    /// The authority pays part or all of its purchase, subscription or use.
    Covered,
    /// A personal device used for work: advised, not banned.
    Advisory,
    /// Neither.
    Private,
}

impl Coverage {
    pub const ALL: [Coverage; 3] = [Coverage::Covered, Coverage::Advisory, Coverage::Private];

    pub fn as_str(self) -> &'static str {
        match self {
            Coverage::Covered => "covered",
            Coverage::Advisory => "advisory",
            Coverage::Private => "private",
        }
    }
}

impl fmt::Display for Coverage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One registry row.
#[derive(Clone, PartialEq, Eq)]
pub struct Device {
    pub id: Arc<str>,
    pub authority: Arc<str>,
    pub organisation: Option<Arc<str>>,
    pub owner: Option<Arc<str>>,
    pub purchase: Share,
    pub subscription: Share,
    pub usage: Share,
    pub professional_use: bool,
    pub token_sha256: Option<[u8; 32]>,
    pub cert_sha256: Option<[u8; 32]>,
    pub addresses: Vec<IpNet>,
    /// MAC addresses, for RADIUS accounting (SPEC §13).
    pub macs: Vec<Mac>,
    pub status: Status,
    /// Line of the row in its source, for `explain`.
    pub line: usize,
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Token and certificate hashes are credentials: not printed.
        f.debug_struct("Device")
            .field("id", &self.id)
            .field("authority", &self.authority)
            .field("organisation", &self.organisation)
            .field("coverage", &self.coverage())
            .field("status", &self.status)
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

impl Device {
    /// Covered if any share is partial or full; else advisory if used for work; else
    /// private.
    pub fn coverage(&self) -> Coverage {
        let paid = [self.purchase, self.subscription, self.usage]
            .iter()
            .any(|s| *s != Share::None);
        if paid {
            Coverage::Covered
        } else if self.professional_use {
            Coverage::Advisory
        } else {
            Coverage::Private
        }
    }
}

/// Index of a device in [`Registry::device`].
pub type DeviceId = u32;

/// The loaded, indexed registry.
#[derive(Debug, Default)]
pub struct Registry {
    devices: Vec<Device>,
    by_id: HashMap<Arc<str>, DeviceId>,
    by_token: HashMap<[u8; 32], DeviceId>,
    by_cert: HashMap<[u8; 32], DeviceId>,
    by_addr: PrefixTable<DeviceId>,
    by_mac: HashMap<Mac, DeviceId>,
}

impl Registry {
    /// Loads a `.csv` or `.json` registry file.
    pub fn load(path: &Path) -> Result<Registry, LoadError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| LoadError::new(path, 1, format!("cannot read registry: {e}")))?;
        Self::parse(path, &text)
    }

    /// Parses registry text; the format follows the file extension.
    pub fn parse(path: &Path, text: &str) -> Result<Registry, LoadError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let rows = match path.extension().and_then(|e| e.to_str()) {
            Some("json") => json::rows(text),
            _ => csv::rows(text),
        }
        .map_err(|(line, reason)| LoadError::new(path, line, reason))?;
        let mut reg = Registry::default();
        for row in rows {
            let line = row.line;
            let device = row.into_device().map_err(|r| LoadError::new(path, line, r))?;
            reg.insert(device).map_err(|r| LoadError::new(path, line, r))?;
        }
        Ok(reg)
    }

    fn insert(&mut self, d: Device) -> Result<(), String> {
        let idx = self.devices.len() as DeviceId;
        let first = |id: DeviceId| self.devices[id as usize].line;
        if let Some(&prev) = self.by_id.get(&d.id) {
            return Err(format!(
                "duplicate device_id {:?} (first on line {})",
                &*d.id,
                first(prev)
            ));
        }
        if let Some(prev) = d.token_sha256.and_then(|t| self.by_token.get(&t)) {
            return Err(format!(
                "token_sha256 is already used by device on line {}",
                first(*prev)
            ));
        }
        if let Some(prev) = d.cert_sha256.and_then(|c| self.by_cert.get(&c)) {
            return Err(format!(
                "cert_sha256 is already used by device on line {}",
                first(*prev)
            ));
        }
        for net in &d.addresses {
            if let Some(prev) = self.by_addr.insert(*net, idx) {
                return Err(format!(
                    "address {net} is already used by device on line {}",
                    first(prev)
                ));
            }
        }
        for mac in &d.macs {
            if let Some(prev) = self.by_mac.get(mac) {
                return Err(format!(
                    "MAC address {mac} is already used by device on line {}",
                    first(*prev)
                ));
            }
        }
        for mac in &d.macs {
            self.by_mac.insert(*mac, idx);
        }
        self.by_id.insert(d.id.clone(), idx);
        if let Some(t) = d.token_sha256 {
            self.by_token.insert(t, idx);
        }
        if let Some(c) = d.cert_sha256 {
            self.by_cert.insert(c, idx);
        }
        self.devices.push(d);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.devices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    pub fn device(&self, id: DeviceId) -> &Device {
        &self.devices[id as usize]
    }

    pub fn devices(&self) -> &[Device] {
        &self.devices
    }

    pub fn by_id(&self, id: &str) -> Option<DeviceId> {
        self.by_id.get(id).copied()
    }

    pub fn by_cert(&self, sha256: &[u8; 32]) -> Option<DeviceId> {
        self.by_cert.get(sha256).copied()
    }

    /// The device whose address or longest prefix holds `ip`.
    pub fn by_address(&self, ip: IpAddr) -> Option<DeviceId> {
        self.by_addr.lookup(ip).copied()
    }

    /// The device with this MAC address.
    pub fn by_mac(&self, mac: &Mac) -> Option<DeviceId> {
        self.by_mac.get(mac).copied()
    }

    /// Devices per coverage (active and inactive).
    pub fn count(&self, coverage: Coverage) -> usize {
        self.devices.iter().filter(|d| d.coverage() == coverage).count()
    }
}

/// A row as read, before it is checked.
#[derive(Debug, Default)]
pub(crate) struct Row {
    pub line: usize,
    pub device_id: Option<String>,
    pub authority: Option<String>,
    pub organisation: Option<String>,
    pub owner: Option<String>,
    pub purchase: Option<String>,
    pub subscription: Option<String>,
    pub usage: Option<String>,
    pub professional_use: Option<bool>,
    pub token_sha256: Option<String>,
    pub cert_sha256: Option<String>,
    pub addresses: Vec<String>,
    pub macs: Vec<String>,
    pub status: Option<String>,
}

/// The registry columns, in the documented order.
pub(crate) const COLUMNS: [&str; 13] = [
    "device_id",
    "authority",
    "organisation",
    "owner",
    "purchase",
    "subscription",
    "usage",
    "professional_use",
    "token_sha256",
    "cert_sha256",
    "addresses",
    "macs",
    "status",
];

impl Row {
    fn into_device(self) -> Result<Device, String> {
        let id = required(self.device_id, "device_id")?;
        if id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
            return Err(format!("device_id {id:?} must be [A-Za-z0-9._-]{{1,64}}"));
        }
        let authority = required(self.authority, "authority")?;
        let mut addresses = Vec::new();
        for a in &self.addresses {
            addresses.push(parse_address(a)?);
        }
        let mut macs: Vec<Mac> = Vec::new();
        for m in &self.macs {
            let mac = Mac::parse(m)?;
            if macs.contains(&mac) {
                return Err(format!("MAC address {mac} is listed twice"));
            }
            macs.push(mac);
        }
        Ok(Device {
            id: id.into(),
            authority: authority.into(),
            organisation: optional(self.organisation).map(Into::into),
            owner: optional(self.owner).map(Into::into),
            purchase: share(self.purchase, "purchase")?,
            subscription: share(self.subscription, "subscription")?,
            usage: share(self.usage, "usage")?,
            professional_use: self.professional_use.unwrap_or(false),
            token_sha256: optional(self.token_sha256)
                .map(|h| sha256_hex(&h, "token_sha256"))
                .transpose()?,
            cert_sha256: optional(self.cert_sha256)
                .map(|h| sha256_hex(&h, "cert_sha256"))
                .transpose()?,
            addresses,
            macs,
            status: match required(self.status, "status")?.as_str() {
                "active" => Status::Active,
                "retired" => Status::Retired,
                "lost" => Status::Lost,
                other => return Err(format!("status {other:?} must be active, retired or lost")),
            },
            line: self.line,
        })
    }
}

fn optional(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn required(v: Option<String>, name: &str) -> Result<String, String> {
    optional(v).ok_or_else(|| format!("{name} is required"))
}

fn share(v: Option<String>, name: &str) -> Result<Share, String> {
    let text = required(v, name)?;
    Share::parse(&text).ok_or_else(|| format!("{name} {text:?} must be none, partial or full"))
}

fn sha256_hex(text: &str, name: &str) -> Result<[u8; 32], String> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).map_err(|_| format!("{name} must be 64 hexadecimal characters"))?;
    Ok(out)
}

/// An address or network; host bits must be clear.
fn parse_address(text: &str) -> Result<IpNet, String> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(IpNet::from(ip));
    }
    let net: IpNet = text
        .parse()
        .map_err(|_| format!("address {text:?} is not an IP address or network"))?;
    if net.trunc() != net {
        return Err(format!(
            "address {text:?} has host bits set (did you mean {}?)",
            net.trunc()
        ));
    }
    Ok(net)
}

#[cfg(test)]
mod tests;

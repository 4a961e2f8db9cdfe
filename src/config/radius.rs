//! `[radius]` (SPEC §13): the UDP address accounting arrives on, how long a binding
//! lives without news, and the NAS allowed to send, each with its shared secret (read
//! at load; trailing whitespace is not part of it; never printed).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;

use super::file;
use super::log::{read_secret, Secret};
use super::{Checker, LoadError};

/// Default `binding_ttl`.
const BINDING_TTL: Duration = Duration::from_secs(12 * 3600);

#[derive(Debug, Clone)]
pub struct RadiusConfig {
    pub listen: SocketAddr,
    pub binding_ttl: Duration,
    pub clients: Vec<RadiusClient>,
}

#[derive(Debug, Clone)]
pub struct RadiusClient {
    /// The NAS source address or network.
    pub network: IpNet,
    pub secret: Secret,
}

impl RadiusConfig {
    /// The secret of the most specific client network holding `ip`.
    pub fn secret_for(&self, ip: IpAddr) -> Option<&Secret> {
        self.clients
            .iter()
            .filter(|c| c.network.contains(&ip))
            .max_by_key(|c| c.network.prefix_len())
            .map(|c| &c.secret)
    }
}

impl Checker<'_> {
    pub(super) fn radius(&self, r: Option<toml::Spanned<file::Radius>>) -> Result<Option<RadiusConfig>, LoadError> {
        let Some(r) = r else { return Ok(None) };
        let span = r.span();
        let r = r.into_inner();
        if r.client.is_empty() {
            return Err(self.err(span, "[radius] needs at least one [[radius.client]]"));
        }
        let mut clients = Vec::new();
        for c in r.client {
            let secret = read_secret(&self.resolve(&c.secret_file))
                .map_err(|e| self.err(span.clone(), format!("[[radius.client]] secret_file: {e}")))?;
            clients.push(RadiusClient {
                network: c.address.trunc(),
                secret,
            });
        }
        Ok(Some(RadiusConfig {
            listen: r.listen,
            binding_ttl: r.binding_ttl.map_or(BINDING_TTL, |d| d.0),
            clients,
        }))
    }
}

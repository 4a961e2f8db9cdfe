//! slagboom: an egress proxy that enforces app bans on devices an organisation pays for.
//!
//! How a connection flows (see `docs/architecture.md`):
//!
//! ```text
//! accept (proxy) -> identify (auth) -> learn target (CONNECT host / URI / SNI)
//!   -> decide (policy: pure) -> block: respond + event
//!                             -> allow/warn: resolve and check every address (CONNECT:
//!                                before the 200), CONNECT re-decides on the SNI
//!                                -> upstream (dial the checked addresses)
//!                                -> tunnel / forward (replay peeked bytes, relay, count)
//!   -> exactly one event -> events (privacy, ECS) -> sinks
//! ```
//!
//! Modules, in the order a request meets them:
//! - [`config`]: `slagboom.toml` to typed, validated values (`file:line: reason` errors).
//! - [`state`]: the immutable [`state::Snapshot`] (config, registry, rules, policies).
//! - [`registry`]: funding registry, derived coverage, indexes.
//! - [`host`]: the normalised [`host::Host`].
//! - [`rules`]: rulesets compiled into one index.
//! - [`auth`]: device identity.
//! - [`policy`]: the pure decision.
//! - [`proxy`]: listener, per-connection flow, upstream, tunnels, HTTP forwarding.
//! - [`tls`]: the ClientHello reader and TLS alerts.
//! - [`respond`]: every refusal the client sees.
//! - [`events`]: SIEM events, the spool and the sinks (at least once, per sink).
//! - [`sys`]: the one module that calls the OS directly (a TCP socket's unacknowledged
//!   bytes); the only place `unsafe` is allowed.
//! - [`pac`]: the PAC file.
//! - [`cli`]: the subcommands.

pub mod admin;
pub mod auth;
pub mod cli;
pub mod config;
pub mod events;
pub mod host;
pub mod http_client;
pub mod metrics;
pub mod pac;
pub mod policy;
pub mod prefix;
pub mod proxy;
pub mod registry;
pub mod reload;
pub mod respond;
pub mod rules;
pub mod state;
pub mod sys;
pub mod tls;

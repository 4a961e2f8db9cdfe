//! slagboom: an egress proxy that enforces app bans on devices an organisation pays for.
//!
//! The modules, in the order a request meets them (`docs/architecture.md` tells the
//! same story with the files of each):
//!
//! ```text
//! start       cli (run, check, explain) -> config -> state: registry, rules, policy
//! accept      proxy::listener (max_connections, shared state built once)
//! front door  proxy::explicit: request head (proxy::head), target (host), who (auth);
//!             proxy::transparent: original destination, who by address (radius
//!             bindings, registry), first bytes
//! verdict     proxy::verdict -> policy (pure): requested host, SNI, original address
//! CONNECT     proxy::tunnel: upstream (resolve once, check, before the 200),
//!             respond::ESTABLISHED, proxy::hello + tls::client_hello, verdict again,
//!             dial, proxy::relay
//! http://     proxy::forward: upstream, request body (proxy::body, proxy::chunked),
//!             proxy::response
//! finish      proxy::finish: the one place an event is recorded, then the answer
//!             (bytes by respond: refusals, block page, alerts)
//! events      events: privacy -> spool (disk) -> one runner per sink, at least once
//! around      admin (PAC, health, metrics, reload, helpdesk), reload, metrics
//! ```
//!
//! - [`cli`]: the subcommands; `main` only dispatches.
//! - [`config`]: `slagboom.toml` to typed, validated values (`file:line: reason`).
//! - [`state`]: the immutable [`state::Snapshot`] (config, registry, rules, policies),
//!   loaded together and swapped whole on reload.
//! - [`registry`]: the funding registry, derived coverage, indexes; [`prefix`] its
//!   longest-prefix table.
//! - [`rules`]: rulesets compiled into one index; [`host`]: the normalised host.
//! - [`policy`]: policies, their windows, and the pure decision.
//! - [`proxy`]: listeners, front doors, the verdict, tunnels, HTTP forwarding,
//!   upstream, and `finish`.
//! - [`auth`]: device identity and the auth-failure limiter; [`radius`]: identity from
//!   the network's RADIUS accounting.
//! - [`tls`]: the ClientHello reader and alert records; TLS client settings.
//! - [`respond`]: every answer slagboom makes itself, and the block page.
//! - [`events`]: SIEM events, the spool and the sinks (at least once, per sink).
//! - [`admin`], [`pac`], [`metrics`], [`reload`]: the admin endpoint and what it serves;
//!   [`helpdesk`]: the helpdesk page there (an event id or a device and a host
//!   explained), reading the recent-events index the event pipeline fills.
//! - [`explain`]: one decision with every policy's part, for `slagboom explain` and the
//!   helpdesk.
//! - [`http_client`]: the small HTTPS client of HTTP sinks and the remote registry.
//! - [`sys`]: the one module that calls the OS directly (a TCP socket's unacknowledged
//!   bytes); the only place `unsafe` is allowed.

pub mod admin;
pub mod auth;
pub mod cli;
pub mod config;
pub mod events;
pub mod explain;
#[doc(hidden)]
pub mod fuzzing;
pub mod helpdesk;
pub mod host;
pub mod http_client;
pub mod metrics;
pub mod pac;
pub mod policy;
pub mod prefix;
pub mod proxy;
pub mod radius;
pub mod registry;
pub mod reload;
pub mod respond;
pub mod rules;
pub mod state;
pub mod sys;
pub mod tls;

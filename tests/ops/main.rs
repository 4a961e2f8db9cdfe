//! Operations through the real binary: the admin endpoint (PAC evaluated by a real PAC
//! engine, health, readiness, `/metrics` read by a real Prometheus parser, `POST
//! /reload`), hot reload and its refusals, and every limit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../proxy/support.rs"]
mod support;

mod admin;
mod browser;
mod deploy;
mod helpdesk;
mod limits;
mod registry_url;
mod reload;
mod transparent;

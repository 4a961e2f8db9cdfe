//! Integration tests through real sockets: an in-process proxy on port 0, TLS and HTTP
//! origins on loopback, real rustls clients.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod auth;
mod connect_checks;
mod dns;
mod framing;
mod http;
mod intercept;
mod own_addresses;
mod report;
mod tls_listen;
mod tunnel;

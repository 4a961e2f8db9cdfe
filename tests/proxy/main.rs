//! Integration tests through real sockets: an in-process proxy on port 0, TLS and HTTP
//! origins on loopback, real rustls clients.

mod support;

mod auth;
mod http;
mod tunnel;

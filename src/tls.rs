//! TLS as the proxy sees it: the ClientHello reader (SNI, ECH, ALPN) and the alert
//! records sent when a tunnel is refused after its 200; the client settings of sinks;
//! the certificate authorities of `slagboom ca`; the HTTPS proxy port's server side
//! (`server`); and the block-page CA in use with the leaves it mints (`leaf`).

pub mod ca;
pub mod client;
pub mod client_hello;
pub mod hello_watch;
pub mod leaf;
pub mod server;

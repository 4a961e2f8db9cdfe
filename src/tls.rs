//! TLS as the proxy sees it without terminating it: the ClientHello reader (SNI, ECH,
//! ALPN) and the alert records sent when a tunnel is refused after its 200; the client
//! settings of sinks; and the certificate authorities of `slagboom ca`.

pub mod ca;
pub mod client;
pub mod client_hello;

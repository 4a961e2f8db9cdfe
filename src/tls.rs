//! TLS as the proxy sees it without terminating it: the ClientHello reader (SNI, ECH,
//! ALPN) and the alert records sent when a tunnel is refused after its 200.

pub mod client;
pub mod client_hello;

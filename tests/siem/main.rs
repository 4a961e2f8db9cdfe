//! Events reaching the SIEM through real receivers: a private rsyslog instance (TCP
//! with octet counting, TLS through its gtls driver), UDP datagrams, and an in-test
//! HTTP server standing in for Splunk HEC and Elasticsearch (neither can run here).
//! Outages, `kill -9` and full spools lose nothing that was recorded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../proxy/support.rs"]
mod support;

mod collector;
mod disk_full;
mod scripted;

mod chaos;
mod faults;
mod http;
mod relp;
mod restarts;
mod shutdown;
mod spool;
mod syslog;

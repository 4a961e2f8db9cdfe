//! Prometheus metrics (OpenMetrics text via `prometheus-client`). One [`Metrics`] per
//! process, shared by the proxy, the event pipeline and the admin endpoint.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ListenerLabel {
    /// `explicit`, `tls` or `transparent`.
    pub listener: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    pub action: &'static str,
    pub policy: String,
    pub ruleset: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabel {
    /// `token`, `client-cert`, `source-ip` or `none`.
    pub method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SinkLabel {
    pub sink: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CoverageLabel {
    pub coverage: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// `bound`, `unbound`, `unknown_mac`, `bad_authenticator`, `unknown_client` or
    /// `malformed`.
    pub result: &'static str,
}

/// Every value of the RADIUS `result` label.
pub const RADIUS_RESULTS: [&str; 6] = [
    "bound",
    "unbound",
    "unknown_mac",
    "bad_authenticator",
    "unknown_client",
    "malformed",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// `block` or `advice`.
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PolicyLabel {
    pub policy: String,
}

/// Every metric slagboom exposes.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub connections: Family<ListenerLabel, Counter>,
    pub active_tunnels: Gauge,
    pub decisions: Family<DecisionLabels, Counter>,
    pub auth_failures: Family<MethodLabel, Counter>,
    pub events_queued: Gauge,
    pub spool_bytes: Gauge,
    pub events_delivered: Family<SinkLabel, Counter>,
    pub sink_errors: Family<SinkLabel, Counter>,
    pub events_dropped: Counter<u64, AtomicU64>,
    pub spool_corrupt: Counter<u64, AtomicU64>,
    pub dead_letters: Family<SinkLabel, Counter>,
    pub registry_devices: Family<CoverageLabel, Gauge>,
    pub reload_failures: Counter<u64, AtomicU64>,
    pub policy_review_overdue: Family<PolicyLabel, Gauge>,
    pub radius_requests: Family<ResultLabel, Counter>,
    pub radius_bindings: Gauge,
    pub intercepted: Family<KindLabel, Counter>,
    pub certificates_minted: Counter<u64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let m = Metrics {
            registry: Registry::default(),
            connections: Family::default(),
            active_tunnels: Gauge::default(),
            decisions: Family::default(),
            auth_failures: Family::default(),
            events_queued: Gauge::default(),
            spool_bytes: Gauge::default(),
            events_delivered: Family::default(),
            sink_errors: Family::default(),
            events_dropped: Counter::default(),
            spool_corrupt: Counter::default(),
            dead_letters: Family::default(),
            registry_devices: Family::default(),
            reload_failures: Counter::default(),
            policy_review_overdue: Family::default(),
            radius_requests: Family::default(),
            radius_bindings: Gauge::default(),
            intercepted: Family::default(),
            certificates_minted: Counter::default(),
        };
        let r = &mut registry;
        r.register(
            "slagboom_connections",
            "Client connections accepted, by listener",
            m.connections.clone(),
        );
        r.register(
            "slagboom_active_tunnels",
            "CONNECT tunnels open now",
            m.active_tunnels.clone(),
        );
        r.register(
            "slagboom_decisions",
            "Policy decisions, by action, policy and ruleset",
            m.decisions.clone(),
        );
        r.register(
            "slagboom_auth_failures",
            "Refused authentications, by method",
            m.auth_failures.clone(),
        );
        r.register(
            "slagboom_events_queued",
            "Events in the spool not yet delivered to every sink",
            m.events_queued.clone(),
        );
        r.register(
            "slagboom_spool_bytes",
            "Bytes of the event spool on disk",
            m.spool_bytes.clone(),
        );
        r.register(
            "slagboom_events_delivered",
            "Events delivered, by sink",
            m.events_delivered.clone(),
        );
        r.register(
            "slagboom_sink_errors",
            "Failed delivery attempts, by sink",
            m.sink_errors.clone(),
        );
        r.register(
            "slagboom_events_dropped",
            "Events not kept: dropped by drop-oldest, refusal events past the reserve, and events a failed spool write could not take",
            m.events_dropped.clone(),
        );
        r.register(
            "slagboom_spool_corrupt_records",
            "Torn or corrupt spool records skipped",
            m.spool_corrupt.clone(),
        );
        r.register(
            "slagboom_dead_letters",
            "Events a sink refused as invalid (written to dead-letter.jsonl)",
            m.dead_letters.clone(),
        );
        r.register(
            "slagboom_registry_devices",
            "Registry devices, by coverage",
            m.registry_devices.clone(),
        );
        r.register(
            "slagboom_reload_failures",
            "Reloads refused because the new input was invalid",
            m.reload_failures.clone(),
        );
        r.register(
            "slagboom_policy_review_overdue",
            "1 when a policy in force is past its review date",
            m.policy_review_overdue.clone(),
        );
        r.register(
            "slagboom_radius_requests",
            "RADIUS accounting requests, by what came of them",
            m.radius_requests.clone(),
        );
        r.register(
            "slagboom_radius_bindings",
            "Addresses bound to devices by RADIUS accounting now",
            m.radius_bindings.clone(),
        );
        r.register(
            "slagboom_intercepted",
            "TLS connections terminated to show a page, by kind (block, advice)",
            m.intercepted.clone(),
        );
        r.register(
            "slagboom_certificates_minted",
            "Leaf certificates minted for intercepted names (cache misses)",
            m.certificates_minted.clone(),
        );
        for kind in ["block", "advice"] {
            let _ = m.intercepted.get_or_create(&KindLabel { kind });
        }
        for result in RADIUS_RESULTS {
            let _ = m.radius_requests.get_or_create(&ResultLabel { result });
        }
        Metrics { registry, ..m }
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            tracing::error!("cannot encode metrics");
        }
        out
    }

    pub fn sink(&self, name: &str) -> SinkLabel {
        SinkLabel { sink: name.to_owned() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names() {
        let m = Metrics::new();
        m.events_delivered.get_or_create(&m.sink("file-1")).inc_by(3);
        m.spool_bytes.set(42);
        let text = m.encode();
        assert!(
            text.contains("slagboom_events_delivered_total{sink=\"file-1\"} 3"),
            "{text}"
        );
        assert!(text.contains("slagboom_spool_bytes 42"), "{text}");
        assert!(text.contains("# TYPE slagboom_reload_failures counter"), "{text}");
    }
}

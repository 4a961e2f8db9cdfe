//! ECS field names, in the order they are written. Names are dotted ECS paths; the
//! encoder nests them into JSON objects.

pub const TIMESTAMP: &str = "@timestamp";
pub const ECS_VERSION: &str = "ecs.version";
pub const EVENT_ID: &str = "event.id";
pub const EVENT_KIND: &str = "event.kind";
pub const EVENT_CATEGORY: &str = "event.category";
pub const EVENT_TYPE: &str = "event.type";
pub const EVENT_ACTION: &str = "event.action";
pub const EVENT_OUTCOME: &str = "event.outcome";
pub const EVENT_REASON: &str = "event.reason";
pub const EVENT_DURATION: &str = "event.duration";
pub const SOURCE_IP: &str = "source.ip";
pub const SOURCE_PORT: &str = "source.port";
pub const SOURCE_BYTES: &str = "source.bytes";
pub const SOURCE_MAC: &str = "source.mac";
pub const DESTINATION_DOMAIN: &str = "destination.domain";
pub const DESTINATION_IP: &str = "destination.ip";
pub const DESTINATION_PORT: &str = "destination.port";
pub const DESTINATION_BYTES: &str = "destination.bytes";
pub const TLS_SERVER_NAME: &str = "tls.client.server_name";
pub const HTTP_METHOD: &str = "http.request.method";
pub const HTTP_STATUS: &str = "http.response.status_code";
pub const URL_ORIGINAL: &str = "url.original";
pub const DEVICE_ID: &str = "device.id";
pub const ORGANIZATION_NAME: &str = "organization.name";
pub const USER_ID: &str = "user.id";
pub const RULE_ID: &str = "rule.id";
pub const RULE_NAME: &str = "rule.name";
pub const RULE_RULESET: &str = "rule.ruleset";
pub const RULE_REFERENCE: &str = "rule.reference";
pub const OBSERVER_NAME: &str = "observer.name";
pub const OBSERVER_TYPE: &str = "observer.type";
pub const OBSERVER_PRODUCT: &str = "observer.product";
pub const LABELS_COVERAGE: &str = "labels.coverage";
pub const LABELS_ECH: &str = "labels.ech";
pub const LABELS_LISTENER: &str = "labels.listener";
pub const LABELS_IDENTITY: &str = "labels.identity";
pub const LABELS_PROTOCOL: &str = "labels.protocol";
pub const LABELS_NAS: &str = "labels.nas";
pub const LABELS_INTERCEPTED: &str = "labels.intercepted";
pub const LABELS_ACKNOWLEDGED: &str = "labels.acknowledged";
pub const LABELS_POLICY_VERSION: &str = "labels.policy_version";
pub const LABELS_PREVIOUS_POLICY_VERSION: &str = "labels.previous_policy_version";
pub const MESSAGE: &str = "message";

/// `ecs.version`.
pub const ECS_VERSION_VALUE: &str = "8.11.0";

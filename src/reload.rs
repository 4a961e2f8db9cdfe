//! Reloading: `SIGHUP`, `POST /reload` and the file watch all come here. The new
//! configuration, registry and rules are built beside the running ones and swapped in
//! one step; any invalid input — or a registry that shrank by more than
//! `[registry] max_shrink`, the mark of a truncated export — keeps the old state
//! entirely, is logged as `file:line: reason` and counted in
//! `slagboom_reload_failures_total`. Never fail open.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use time::OffsetDateTime;

use crate::config::{LoadError, Source};
use crate::events::{Action, Event, EventLog};
use crate::metrics::{CoverageLabel, DecisionLabels, ListenerLabel, MethodLabel, Metrics, PolicyLabel};
use crate::policy::Window;
use crate::registry::Coverage;
use crate::state::{summary, Snapshot, State};

/// What asked for the reload (for the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Signal,
    Admin,
    Watch,
}

/// Rebuilds and swaps the snapshot.
#[derive(Debug)]
pub struct Reloader {
    state: Arc<State>,
    path: PathBuf,
    metrics: Arc<Metrics>,
    /// Where `config_changed` events go (SPEC §14).
    events: EventLog,
    /// One reload at a time.
    busy: Mutex<()>,
}

impl Reloader {
    pub fn new(state: Arc<State>, path: &Path, metrics: Arc<Metrics>, events: EventLog) -> Reloader {
        let r = Reloader {
            state,
            path: path.to_path_buf(),
            metrics,
            events,
            busy: Mutex::new(()),
        };
        r.publish(&r.state.load());
        r
    }

    /// The `config_changed` event of the configuration in force at start (no previous
    /// version; every item counts as added).
    pub fn started(&self) {
        self.config_changed(None, &self.state.load());
    }

    /// Records a `config_changed` event for `new`, after `old` when there was one.
    fn config_changed(&self, old: Option<&Snapshot>, new: &Snapshot) {
        let mut event = Event::new(Action::ConfigChanged, std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
        event.previous_policy_version = old.map(|o| o.policy_version.clone());
        event.message = Some(summary(old.map(|o| &o.canonical), &new.canonical));
        tracing::info!(policy_version = %new.policy_version, change = event.message.as_deref().unwrap_or(""), "configuration in force");
        self.events.record_now(new, event);
    }

    /// Reloads now. On error the running snapshot stays.
    pub fn reload(&self, trigger: Trigger) -> Result<Arc<Snapshot>, LoadError> {
        let _one = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        let old = self.state.load();
        let result = Snapshot::load(&self.path).and_then(|next| {
            check_shrink(&old, &next)?;
            Ok(next)
        });
        match result {
            Ok(next) => {
                let next = self.state.swap(next);
                tracing::info!(
                    ?trigger,
                    devices = next.registry.len(),
                    rulesets = next.rules.rulesets().len(),
                    policies = next.policies.len(),
                    "reloaded"
                );
                if next.config.proxy.listen != old.config.proxy.listen
                    || next.config.admin.listen != old.config.admin.listen
                {
                    tracing::warn!("a listen address changed: restart to apply it");
                }
                self.publish(&next);
                self.config_changed(Some(&old), &next);
                Ok(next)
            }
            Err(e) => {
                self.metrics.reload_failures.inc();
                tracing::error!(?trigger, error = %e, "reload refused; keeping the running configuration");
                Err(e)
            }
        }
    }

    /// Registry and policy gauges for a snapshot; logs overdue policies.
    pub fn publish(&self, snap: &Snapshot) {
        for c in Coverage::ALL {
            let n = i64::try_from(snap.registry.count(c)).unwrap_or(i64::MAX);
            self.metrics
                .registry_devices
                .get_or_create(&CoverageLabel { coverage: c.as_str() })
                .set(n);
        }
        self.metrics.policy_review_overdue.clear();
        let now = OffsetDateTime::now_utc();
        for p in &snap.policies {
            let overdue = p.window(now) == Window::InForce { overdue: true };
            self.metrics
                .policy_review_overdue
                .get_or_create(&PolicyLabel { policy: p.id.clone() })
                .set(i64::from(overdue));
        }
        warn_overdue(snap);
        self.preset_series(snap);
    }

    /// Creates at 0 every labelled series whose label values the configuration tells
    /// (SPEC §10), so that dashboards and alert rules see 0, not "no data", until the
    /// first count: each sink, listener, authentication method, and each policy's
    /// decisions per ruleset. Series already counting are left as they are.
    fn preset_series(&self, snap: &Snapshot) {
        let m = &self.metrics;
        for sink in &snap.config.log.sinks {
            let label = m.sink(&sink.name);
            let _ = m.events_delivered.get_or_create(&label);
            let _ = m.sink_errors.get_or_create(&label);
            let _ = m.dead_letters.get_or_create(&label);
        }
        for listener in snap.config.listener_kinds() {
            let _ = m.connections.get_or_create(&ListenerLabel { listener });
        }
        let methods = snap.config.auth.methods.iter().map(|a| a.as_str());
        for method in methods.chain(["none"]) {
            let _ = m.auth_failures.get_or_create(&MethodLabel { method });
        }
        let no_hit = DecisionLabels {
            action: "allow",
            policy: String::new(),
            ruleset: String::new(),
        };
        let _ = m.decisions.get_or_create(&no_hit);
        for p in &snap.policies {
            for &ruleset in &p.rulesets {
                for action in [p.covered, p.advisory, p.private] {
                    let _ = m.decisions.get_or_create(&DecisionLabels {
                        action: action.as_str(),
                        policy: p.id.clone(),
                        ruleset: snap.rules.ruleset(ruleset).id.clone(),
                    });
                }
            }
        }
    }

    /// Polls the configuration file, the registry file and the rules directory every
    /// `[registry] poll`, and reloads when any of them changed.
    pub async fn watch(self: Arc<Self>) {
        let mut seen = fingerprint(&self.state.load());
        loop {
            let poll = self.state.load().config.registry.poll;
            tokio::time::sleep(poll).await;
            let now = fingerprint(&self.state.load());
            if now != seen || self.remote_changed().await {
                let me = self.clone();
                let _ = tokio::task::spawn_blocking(move || me.reload(Trigger::Watch)).await;
                // Whatever the outcome, wait for the next change before trying again.
                seen = fingerprint(&self.state.load());
            }
        }
    }

    /// For an `https://` registry: a conditional GET; true when the export changed.
    async fn remote_changed(&self) -> bool {
        let snap = self.state.load();
        let Source::Url(url) = &snap.config.registry.source else {
            return false;
        };
        let tls = match crate::tls::client::config(snap.config.registry.ca_file.as_deref(), None) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "registry ca_file");
                return false;
            }
        };
        match crate::registry::remote::fetch(url, Some(&tls), snap.registry_etag.as_deref()).await {
            Ok(None) => false,
            Ok(Some(f)) => snap.registry_digest != Some(f.digest()),
            Err(e) => {
                tracing::warn!(error = %e, "registry poll failed; keeping the registry in force");
                false
            }
        }
    }

    /// Logs a warning once a day for policies past their review date.
    pub async fn daily_review_warning(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(24 * 3600));
        tick.tick().await;
        loop {
            tick.tick().await;
            self.publish(&self.state.load());
        }
    }
}

/// Refuses a registry that lost more than `max_shrink` of its devices at once.
fn check_shrink(old: &Snapshot, next: &Snapshot) -> Result<(), LoadError> {
    let (before, after) = (old.registry.len(), next.registry.len());
    let max = next.config.registry.max_shrink;
    if before == 0 || after >= before {
        return Ok(());
    }
    let lost = (before - after) as f64 / before as f64;
    if lost > max {
        let file = match &next.config.registry.source {
            Source::File(p) => p.clone(),
            Source::Url(u) => PathBuf::from(u),
        };
        return Err(LoadError::new(
            &file,
            1,
            format!(
                "registry has {after} devices, {before} before: refused as a likely truncated export (lost {:.0}%, max_shrink {max})",
                lost * 100.0
            ),
        ));
    }
    Ok(())
}

/// Logs each policy past its review date that is still enforced.
pub fn warn_overdue(snap: &Snapshot) {
    for p in snap.overdue_policies(OffsetDateTime::now_utc()) {
        let due = p.review_by.map(|d| d.to_string()).unwrap_or_default();
        tracing::warn!(policy = %p.id, review_by = %due, "policy is past its review date and still enforced");
    }
}

/// Modification times and sizes of everything a snapshot was loaded from.
fn fingerprint(snap: &Snapshot) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
    let mut files = vec![snap.config.path.clone()];
    if let Source::File(p) = &snap.config.registry.source {
        files.push(p.clone());
    }
    files.push(snap.config.rules_dir.clone());
    if let Ok(entries) = std::fs::read_dir(&snap.config.rules_dir) {
        let mut rules: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        rules.sort();
        files.extend(rules);
    }
    files
        .into_iter()
        .map(|p| {
            let meta = std::fs::metadata(&p).ok();
            let modified = meta.as_ref().and_then(|m| m.modified().ok());
            let len = meta.map_or(0, |m| m.len());
            (p, modified, len)
        })
        .collect()
}

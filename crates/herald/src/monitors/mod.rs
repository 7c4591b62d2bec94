//! Monitors: herald watching itself. Each check reads the store's health summary (and,
//! for staleness, the events since the last check), decides per subject with the shared
//! state machine (`core/decide.rs`), and emits alert and recovery events from the `herald`
//! source, which rules route like any other event. States live in the store and every
//! alert has a dedup key naming its outage, so a restart neither forgets nor repeats an
//! alert, and several processes send it once.

mod checks;
mod runbook;

use crate::clock::SharedClock;
use crate::config::SharedConfig;
use crate::config::monitors::{MonitorCheck, MonitorConfig, Staleness};
use crate::core::context::stored_event_context;
use crate::core::decide::{Observation, SubjectState, Transition, decide};
use crate::ingress::signatures::SignatureFailures;
use crate::services::Ingest;
use crate::telemetry;
use chrono::{DateTime, Utc};
use herald_store::model::{EventQuery, Health, MonitorState};
use herald_store::{SharedStore, StoreError};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Event types of herald's own events.
pub const ALERT: &str = "monitor.alert";
pub const RECOVERED: &str = "monitor.recovered";

/// Events scanned per page by a staleness check.
const SCAN_PAGE: u32 = 500;
/// A staleness scan starts this much before the last one ended: an event stamped just
/// before a scan may commit just after it.
const SCAN_OVERLAP: chrono::Duration = chrono::Duration::minutes(1);

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot store an alert: {0}")]
    Emit(String),
}

/// An alert or recovery sent by a check.
#[derive(Debug, Clone, PartialEq)]
pub struct Emitted {
    pub monitor: String,
    pub subject: String,
    pub recovered: bool,
}

pub struct Monitors {
    config: SharedConfig,
    store: SharedStore,
    ingest: Arc<Ingest>,
    clock: SharedClock,
    signatures: Arc<SignatureFailures>,
    /// Rung by workers after a credential failure, so its alert goes out at once.
    wake: Arc<Notify>,
}

impl Monitors {
    pub fn new(
        config: SharedConfig,
        store: SharedStore,
        ingest: Arc<Ingest>,
        clock: SharedClock,
        signatures: Arc<SignatureFailures>,
        wake: Arc<Notify>,
    ) -> Self {
        Monitors {
            config,
            store,
            ingest,
            clock,
            signatures,
            wake,
        }
    }

    /// Check every monitor once. Returns the alerts and recoveries sent.
    pub async fn run_once(&self) -> Result<Vec<Emitted>, MonitorError> {
        let health = self.store.health().await?;
        telemetry::health(&health);
        let mut emitted = Vec::new();
        for monitor in self.config.monitors.values() {
            emitted.extend(self.check(monitor, &health).await?);
        }
        Ok(emitted)
    }

    /// Check every `[monitoring] interval`, and at once when woken, until `stop`.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let interval = self.config.monitoring_interval;
        loop {
            if let Err(error) = self.run_once().await {
                tracing::warn!(%error, "Monitor check failed; trying again at the next interval");
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
                () = self.wake.notified() => {}
            }
        }
    }

    async fn check(
        &self,
        monitor: &MonitorConfig,
        health: &Health,
    ) -> Result<Vec<Emitted>, MonitorError> {
        let mut states = self.states(&monitor.name).await?;
        let now = self.clock.now();
        let observations: Vec<(String, Observation)> = match &monitor.check {
            MonitorCheck::Credential { actions, sources } => {
                self.credentials(health, actions, sources).await?
            }
            MonitorCheck::FailureStreak { actions, threshold } => {
                checks::watched(&health.actions, actions)
                    .into_iter()
                    .map(|a| (a.action.clone(), checks::failure_streak(a, *threshold)))
                    .collect()
            }
            MonitorCheck::Staleness(staleness) => {
                self.scan(monitor, staleness, &mut states, now).await?;
                states
                    .iter()
                    .map(|(group, state)| {
                        let seen = checks::staleness(staleness, group, state, now);
                        (group.clone(), seen)
                    })
                    .collect()
            }
            MonitorCheck::SignatureFailures {
                sources,
                threshold,
                window,
            } => self
                .signature_sources(sources)
                .into_iter()
                .map(|source| {
                    let since = now - chrono::Duration::from_std(*window).unwrap_or_default();
                    let count = self.signatures.count_since(&source, since);
                    let seen = checks::signature_failures(&source, count, *threshold, *window, now);
                    (source, seen)
                })
                .collect(),
        };
        let mut emitted = Vec::new();
        for (subject, observation) in observations {
            let previous = states.get(&subject).cloned().unwrap_or_default();
            if let Some(transition) = decide(&previous, observation) {
                self.emit(monitor, &subject, &transition).await?;
                self.put(&monitor.name, &subject, &transition.next, now)
                    .await?;
                emitted.push(Emitted {
                    monitor: monitor.name.clone(),
                    subject,
                    recovered: transition.recovered,
                });
            }
        }
        Ok(emitted)
    }

    /// The credential observations of the watched actions and pollers: those listed, or
    /// every one when neither list names any.
    async fn credentials(
        &self,
        health: &Health,
        actions: &[String],
        sources: &[String],
    ) -> Result<Vec<(String, Observation)>, StoreError> {
        let every = actions.is_empty() && sources.is_empty();
        let mut seen = Vec::new();
        if every || !actions.is_empty() {
            seen.extend(
                checks::watched(&health.actions, actions)
                    .into_iter()
                    .map(|a| (a.action.clone(), checks::credential(&self.config, a))),
            );
        }
        if every || !sources.is_empty() {
            let pollers = self.store.poller_states().await?;
            let watched = pollers.iter().filter(|p| {
                let configured = self
                    .config
                    .source(&p.source)
                    .is_some_and(|s| s.poller.is_some());
                configured && (sources.is_empty() || sources.contains(&p.source))
            });
            seen.extend(watched.map(|p| {
                let subject = checks::poller_subject(&p.source);
                (subject, checks::poller_credential(&self.config, p))
            }));
        }
        Ok(seen)
    }

    async fn states(&self, monitor: &str) -> Result<BTreeMap<String, SubjectState>, StoreError> {
        let stored = self.store.monitor_states(monitor).await?;
        Ok(stored
            .into_iter()
            .map(|state| {
                let parsed = serde_json::from_value(state.data).unwrap_or_default();
                (state.subject, parsed)
            })
            .collect())
    }

    async fn put(
        &self,
        monitor: &str,
        subject: &str,
        state: &SubjectState,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.put_all(monitor, [(subject.to_string(), state.clone())], now)
            .await
    }

    async fn put_all(
        &self,
        monitor: &str,
        states: impl IntoIterator<Item = (String, SubjectState)>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let rows: Vec<MonitorState> = states
            .into_iter()
            .map(|(subject, state)| MonitorState {
                monitor: monitor.to_string(),
                subject,
                data: serde_json::to_value(state).unwrap_or_default(),
                updated_at: now,
            })
            .collect();
        self.store.put_monitor_states(&rows).await
    }

    /// Store the alert as an event of the `herald` source; rules send it on. Its dedup key
    /// names the outage, so a repeat (a crash before the state was saved, another
    /// process) stores nothing.
    async fn emit(
        &self,
        monitor: &MonitorConfig,
        subject: &str,
        transition: &Transition,
    ) -> Result<(), MonitorError> {
        let (event_type, state) = if transition.recovered {
            (RECOVERED, "recovered")
        } else {
            (ALERT, "alert")
        };
        let dedup_key = format!("{}/{subject}/{}/{state}", monitor.name, transition.episode);
        let payload = json!({
            "monitor": monitor.name,
            "kind": monitor.check.kind(),
            "subject": subject,
            "state": state,
            "episode": transition.episode,
            "text": transition.notice.text,
            "details": transition.notice.details,
        });
        tracing::warn!(monitor = %monitor.name, subject, state, "Monitor {state}");
        self.ingest
            .emit(event_type, dedup_key, payload)
            .await
            .map_err(|error| MonitorError::Emit(error.to_string()))?;
        Ok(())
    }

    /// Record when each group last had a matching event, from the events since the last
    /// scan.
    async fn scan(
        &self,
        monitor: &MonitorConfig,
        staleness: &Staleness,
        states: &mut BTreeMap<String, SubjectState>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let cursor_name = format!("{}#scan", monitor.name);
        let cursor = self.store.monitor_states(&cursor_name).await?;
        let every = chrono::Duration::from_std(staleness.every).unwrap_or_default();
        let since = cursor
            .first()
            .and_then(|c| c.data["until"].as_i64())
            .and_then(DateTime::from_timestamp_millis)
            .map_or(now - every, |until| until - SCAN_OVERLAP);
        let seen = self.last_seen_since(staleness, since).await?;
        let mut changed = Vec::new();
        for (group, at) in seen {
            let state = states.entry(group.clone()).or_default();
            let at = at.timestamp_millis();
            if state.last_seen.is_none_or(|last| at > last) {
                state.last_seen = Some(at);
                changed.push((group, state.clone()));
            }
        }
        self.put_all(&monitor.name, changed, now).await?;
        let until = MonitorState {
            monitor: cursor_name,
            subject: String::new(),
            data: json!({ "until": now.timestamp_millis() }),
            updated_at: now,
        };
        self.store.put_monitor_states(&[until]).await
    }

    /// The newest matching event per group, received at or after `since`.
    async fn last_seen_since(
        &self,
        staleness: &Staleness,
        since: DateTime<Utc>,
    ) -> Result<BTreeMap<String, DateTime<Utc>>, StoreError> {
        let templates = &self.config.templates;
        let mut seen: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
        let mut before = None;
        loop {
            let page = self
                .store
                .list_events(&EventQuery {
                    source: Some(staleness.source.clone()),
                    since: Some(since),
                    before,
                    limit: SCAN_PAGE,
                    ..Default::default()
                })
                .await?;
            for event in &page {
                if !staleness
                    .events
                    .iter()
                    .any(|g| g.matches(&event.event_type))
                {
                    continue;
                }
                let context = stored_event_context(event);
                let matches = staleness
                    .filter
                    .as_ref()
                    .is_none_or(|f| templates.is_true(f, &context).unwrap_or(false));
                if !matches {
                    continue;
                }
                let group = match &staleness.group {
                    Some(template) => match templates.render(template, &context) {
                        Ok(group) => group.trim().to_string(),
                        Err(_) => continue,
                    },
                    None => String::new(),
                };
                let at = seen.entry(group).or_insert(event.received_at);
                *at = (*at).max(event.received_at);
            }
            if page.len() < SCAN_PAGE as usize {
                return Ok(seen);
            }
            before = page.last().map(|event| event.id);
        }
    }

    fn signature_sources(&self, listed: &[String]) -> Vec<String> {
        if listed.is_empty() {
            self.config.sources.keys().cloned().collect()
        } else {
            listed.to_vec()
        }
    }
}

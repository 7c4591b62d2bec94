//! Flushing aggregation windows: when a window is due (and its calendar allows), its
//! rule's actions become deliveries, written in the transaction that closes the window —
//! so two flushers never flush one window twice, and a restart loses none.

use crate::clock::{self, SharedClock};
use crate::config::SharedConfig;
use crate::core::context::window_context;
use crate::core::rules::Rule;
use crate::traces::{Traces, WindowTrace};
use herald_store::model::{ClaimedWindow, NewDelivery};
use herald_store::{SharedStore, StoreError};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Windows flushed per round at most.
const ROUND: u32 = 32;
/// How long a flusher holds a window while it builds the deliveries.
const LEASE: Duration = Duration::from_secs(60);

pub struct Flusher {
    config: SharedConfig,
    store: SharedStore,
    clock: SharedClock,
    /// Wakes the workers once a flush has written deliveries.
    wake: Arc<Notify>,
    /// A span per delivery made, in the trace of the window's newest event.
    traces: Traces,
}

impl Flusher {
    pub fn new(
        config: SharedConfig,
        store: SharedStore,
        clock: SharedClock,
        wake: Arc<Notify>,
    ) -> Self {
        Flusher {
            config,
            store,
            clock,
            wake,
            traces: Traces::off(),
        }
    }

    pub fn with_traces(mut self, traces: Traces) -> Self {
        self.traces = traces;
        self
    }

    /// Flush every window due now. Returns how many were flushed (deferred ones excluded).
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let mut flushed = 0;
        loop {
            let now = self.clock.now();
            let claimed = self
                .store
                .claim_due_windows(now, clock::add(now, LEASE), ROUND)
                .await?;
            let count = claimed.len();
            for window in claimed {
                flushed += usize::from(self.flush(window).await?);
            }
            if count < ROUND as usize {
                return Ok(flushed);
            }
        }
    }

    /// Flush due windows until `stop`, sleeping until the next is due (at most `poll`).
    pub async fn run(self: Arc<Self>, stop: CancellationToken, poll: Duration) {
        loop {
            if let Err(error) = self.run_once().await {
                tracing::warn!(%error, "Flushing windows failed; trying again");
            }
            let sleep = self.until_next(poll).await;
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(sleep) => {}
            }
        }
    }

    async fn until_next(&self, poll: Duration) -> Duration {
        let now = self.clock.now();
        match self.store.next_window_due_at(now).await {
            Ok(Some(due)) => (due - now).to_std().unwrap_or_default().min(poll),
            _ => poll,
        }
    }

    /// Returns false when the window was deferred by its calendar or its lease was lost.
    async fn flush(&self, claimed: ClaimedWindow) -> Result<bool, StoreError> {
        let window = &claimed.window;
        let now = self.clock.now();
        let started = SystemTime::now();
        let rule = self.config.rule(&window.rule);
        if let Some(calendar) = rule.and_then(|r| r.window.as_ref()?.calendar.as_ref())
            && !window.forced
            && !calendar.allows(now)
        {
            let at = calendar.next_allowed(now);
            tracing::debug!(window = %window.id, %at, "Window flush deferred by its calendar");
            self.store
                .defer_window(window.id, claimed.lease_token, at)
                .await?;
            return Ok(false);
        }
        let events = self.store.window_events(window.id).await?;
        let deliveries = match rule {
            Some(rule) => self.deliveries(rule, &claimed, &events),
            None => {
                tracing::warn!(window = %window.id, rule = %window.rule, "The window's rule is no longer configured; closing it without deliveries");
                Vec::new()
            }
        };
        let kept = self
            .store
            .flush_window(window.id, claimed.lease_token, &deliveries, now)
            .await?;
        if kept && !deliveries.is_empty() {
            self.wake.notify_one();
        }
        if kept && self.traces.is_on() {
            let events: Vec<Uuid> = events.iter().map(|event| event.id).collect();
            self.traces.window_flushed(&WindowTrace {
                window_id: window.id,
                rule: &window.rule,
                events: &events,
                deliveries: &deliveries,
                started,
                committed: SystemTime::now(),
            });
        }
        tracing::info!(window = %window.id, rule = %window.rule, group = %window.group_key, events = events.len(), flushed = kept, "Window flushed");
        Ok(kept)
    }

    fn deliveries(
        &self,
        rule: &Rule,
        claimed: &ClaimedWindow,
        events: &[herald_store::model::Event],
    ) -> Vec<NewDelivery> {
        let window = &claimed.window;
        let now = self.clock.now();
        let context = window_context(window, events);
        rule.actions
            .iter()
            .map(|action| {
                let ordering_key = self.config.ordering_key(action, || &context);
                NewDelivery {
                    id: Uuid::now_v7(),
                    event_id: events.last().map(|event| event.id),
                    rule: rule.name.clone(),
                    action: action.clone(),
                    idempotency_key: format!("window/{}/{action}", window.id),
                    created_at: now,
                    next_attempt_at: now,
                    ordering_key,
                    window_id: Some(window.id),
                    lease: None,
                }
            })
            .collect()
    }
}

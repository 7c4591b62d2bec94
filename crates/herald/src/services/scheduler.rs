//! `[schedules.NAME]` ticks: at each occurrence of its cron pattern, one event of the
//! `herald` source, type `schedule.NAME`. The tick's dedup key is its time, so several
//! processes store it once; after downtime only the latest missed tick is sent.

use crate::clock::SharedClock;
use crate::config::SharedConfig;
use crate::config::schedules::Schedule;
use crate::services::Ingest;
use chrono::{DateTime, Utc};
use herald_store::model::MonitorState;
use herald_store::{SharedStore, StoreError};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Where each schedule's last tick is kept (the monitors' state table).
const STATE: &str = "herald#schedules";
/// The longest sleep between checks, so a clock change is noticed.
const MAX_SLEEP: Duration = Duration::from_secs(60);

pub struct Scheduler {
    config: SharedConfig,
    store: SharedStore,
    ingest: Arc<Ingest>,
    clock: SharedClock,
}

impl Scheduler {
    pub fn new(
        config: SharedConfig,
        store: SharedStore,
        ingest: Arc<Ingest>,
        clock: SharedClock,
    ) -> Self {
        Scheduler {
            config,
            store,
            ingest,
            clock,
        }
    }

    /// Send the ticks due since the last check. Returns how many were sent.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let states = self.store.monitor_states(STATE).await?;
        let mut sent = 0;
        for schedule in &self.config.schedules {
            let last = states
                .iter()
                .find(|s| s.subject == schedule.name)
                .and_then(|s| s.data["last"].as_i64())
                .and_then(DateTime::from_timestamp_millis);
            let Some(tick) = latest_tick(schedule, now) else {
                continue;
            };
            // A new schedule starts counting now; it does not send a tick from the past.
            let due = last.is_some_and(|last| tick > last);
            if due {
                self.tick(schedule, tick).await;
                sent += 1;
            }
            if last.is_none() || due {
                let state = MonitorState {
                    monitor: STATE.to_string(),
                    subject: schedule.name.clone(),
                    data: json!({ "last": tick.timestamp_millis() }),
                    updated_at: now,
                };
                self.store.put_monitor_states(&[state]).await?;
            }
        }
        Ok(sent)
    }

    /// Tick until `stop`.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        if self.config.schedules.is_empty() {
            return;
        }
        loop {
            if let Err(error) = self.run_once().await {
                tracing::warn!(%error, "Schedules could not be checked; trying again");
            }
            let sleep = self.until_next();
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(sleep) => {}
            }
        }
    }

    fn until_next(&self) -> Duration {
        let now = self.clock.now();
        self.config
            .schedules
            .iter()
            .filter_map(|s| {
                let local = now.with_timezone(&s.zone);
                let next = s.cron.find_next_occurrence(&local, false).ok()?;
                (next.with_timezone(&Utc) - now).to_std().ok()
            })
            .min()
            .unwrap_or(MAX_SLEEP)
            .min(MAX_SLEEP)
    }

    async fn tick(&self, schedule: &Schedule, at: DateTime<Utc>) {
        let dedup_key = format!("schedule/{}/{}", schedule.name, at.timestamp_millis());
        let payload = json!({ "schedule": schedule.name, "at": at });
        match self
            .ingest
            .emit(&schedule.event_type(), dedup_key, payload)
            .await
        {
            Ok(_) => tracing::info!(schedule = %schedule.name, %at, "Schedule tick"),
            Err(error) => {
                tracing::warn!(schedule = %schedule.name, %error, "Schedule tick not stored")
            }
        }
    }
}

/// The schedule's latest occurrence at or before `now`.
fn latest_tick(schedule: &Schedule, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let local = now.with_timezone(&schedule.zone);
    let previous = schedule.cron.find_previous_occurrence(&local, true).ok()?;
    Some(previous.with_timezone(&Utc))
}

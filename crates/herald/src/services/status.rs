//! Health per source, rule and destination, each poller's, and the monitors' open alerts:
//! what `herald status` and `GET /api/status` show.

use crate::config::Config;
use crate::core::decide::SubjectState;
use crate::polling::health::PollerHealth;
use herald_store::model::{Health, Timestamp};
use herald_store::{SharedStore, StoreError};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    #[serde(flatten)]
    pub health: Health,
    /// Sources herald pulls: last poll, last success, lag, items, last error.
    pub pollers: Vec<PollerHealth>,
    pub alerts: Vec<OpenAlert>,
}

/// A monitor subject in alert: the alert went out and no recovery yet.
#[derive(Debug, Clone, Serialize)]
pub struct OpenAlert {
    pub monitor: String,
    pub kind: &'static str,
    pub subject: String,
    /// When the state last changed (the alert was raised).
    pub since: Timestamp,
}

pub async fn status(
    config: &Config,
    store: &SharedStore,
    now: Timestamp,
) -> Result<StatusReport, StoreError> {
    let health = store.health().await?;
    let pollers = crate::polling::health::pollers(config, &store.poller_states().await?, now);
    Ok(StatusReport {
        health,
        pollers,
        alerts: open_alerts(config, store).await?,
    })
}

/// Every monitor's subjects in alert, monitor by monitor.
pub async fn open_alerts(
    config: &Config,
    store: &SharedStore,
) -> Result<Vec<OpenAlert>, StoreError> {
    let mut alerts = Vec::new();
    for monitor in config.monitors.values() {
        for state in store.monitor_states(&monitor.name).await? {
            let parsed: SubjectState = serde_json::from_value(state.data).unwrap_or_default();
            if parsed.alerting {
                alerts.push(OpenAlert {
                    monitor: monitor.name.clone(),
                    kind: monitor.check.kind(),
                    subject: state.subject,
                    since: state.updated_at,
                });
            }
        }
    }
    Ok(alerts)
}

//! `/ui/alerts`: the monitors' open alerts (`services::status`) and their recent alert and
//! recovery events (events of the `herald` source whose type starts with `monitor.`).

use super::{Shared, Signed, UiError, when};
use axum::extract::State;
use axum::response::Html;
use herald_store::model::EventQuery;
use minijinja::{Value, context};

/// Alerts and recoveries shown.
const RECENT: u32 = 50;

pub async fn page(State(dash): State<Shared>, signed: Signed) -> Result<Html<String>, UiError> {
    let store = dash.app.queries.store();
    let open = crate::services::status::open_alerts(&dash.app.config, store).await?;
    let alerts: Vec<Value> = open
        .iter()
        .map(|alert| {
            context! {
                monitor => alert.monitor.clone(),
                kind => alert.kind,
                subject => alert.subject.clone(),
                since => when(&alert.since),
            }
        })
        .collect();
    // Each kind from the index on (source, type), newest first, then merged.
    let mut events = Vec::new();
    for event_type in [crate::monitors::ALERT, crate::monitors::RECOVERED] {
        events.extend(
            dash.app
                .queries
                .events(&EventQuery {
                    source: Some(crate::core::rules::HERALD_SOURCE.to_string()),
                    event_type: Some(event_type.to_string()),
                    limit: RECENT,
                    ..EventQuery::default()
                })
                .await?,
        );
    }
    events.sort_by_key(|event| std::cmp::Reverse(event.id));
    events.truncate(RECENT as usize);
    let history: Vec<Value> = events
        .iter()
        .map(|event| {
            let field = |name: &str| {
                event
                    .payload
                    .get(name)
                    .and_then(|value| value.as_str())
                    .map(str::to_string)
            };
            context! {
                id => event.id.to_string(),
                event_type => event.event_type.clone(),
                received_at => when(&event.received_at),
                monitor => field("monitor"),
                subject => field("subject"),
            }
        })
        .collect();
    dash.render(
        "alerts.html",
        "alerts",
        Some(&signed),
        context! { title => "Alerts", alerts, history },
    )
}

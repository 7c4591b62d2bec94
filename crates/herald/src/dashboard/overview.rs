//! `/ui`: health per source, rule and action (`services::status`), open alerts, and events
//! and deliveries per minute over the last hour.

use super::{Shared, Signed, UiError, chart, value, when};
use axum::extract::State;
use axum::response::Html;
use minijinja::{Value, context};

/// Events (and deliveries) of the last hour read for the chart at most; past it the chart
/// says "at least".
const CHART_LIMIT: u32 = 2000;

pub async fn page(State(dash): State<Shared>, signed: Signed) -> Result<Html<String>, UiError> {
    let now = dash.now();
    let store = dash.app.queries.store();
    let report = crate::services::status::status(&dash.app.config, store, now).await?;
    let since = now - chrono::Duration::hours(1);
    // Only the times, from the indexes on them: no event or delivery is read.
    let activity = store.activity_since(since, CHART_LIMIT).await?;
    let capped = activity.events.len() as u32 >= CHART_LIMIT
        || activity.deliveries.len() as u32 >= CHART_LIMIT;
    let event_counts = chart::per_minute(now, activity.events.iter().copied());
    let delivery_counts = chart::per_minute(now, activity.deliveries.iter().copied());
    let svg = chart::svg(&event_counts, &delivery_counts);
    let fmt = |time: &Option<chrono::DateTime<chrono::Utc>>| time.as_ref().map(when);
    let sources: Vec<Value> = report
        .health
        .sources
        .iter()
        .map(|source| {
            context! {
                source => source.source.clone(),
                last_event_at => fmt(&source.last_event_at),
                events => source.events,
            }
        })
        .collect();
    let rules: Vec<Value> = report
        .health
        .rules
        .iter()
        .map(|rule| {
            context! {
                rule => rule.rule.clone(),
                last_delivery_at => fmt(&rule.last_delivery_at),
                dead => rule.dead,
            }
        })
        .collect();
    let actions: Vec<Value> = report
        .health
        .actions
        .iter()
        .map(|action| {
            context! {
                action => action.action.clone(),
                last_success_at => fmt(&action.last_success_at),
                last_failure_at => fmt(&action.last_failure_at),
                last_failure_error => action.last_failure_error.clone(),
                failure_streak => action.failure_streak,
                pending => action.pending,
                dead => action.dead,
            }
        })
        .collect();
    let alerts: Vec<Value> = report
        .alerts
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
    dash.render(
        "overview.html",
        "overview",
        Some(&signed),
        context! {
            title => "Overview",
            sources,
            rules,
            actions,
            alerts,
            pollers => value(&report.pollers),
            chart => Value::from_safe_string(svg),
            events_last_hour => event_counts.iter().sum::<u64>(),
            deliveries_last_hour => delivery_counts.iter().sum::<u64>(),
            capped,
        },
    )
}

//! `/ui/pollers`: each poller's health (`polling::health`), as `herald status` shows it:
//! last poll, last success, lag, items, failures and the last error.

use super::{Shared, Signed, UiError, ago, when};
use axum::extract::State;
use axum::response::Html;
use minijinja::{Value, context};

pub async fn page(State(dash): State<Shared>, signed: Signed) -> Result<Html<String>, UiError> {
    let now = dash.now();
    let states = dash.app.queries.store().poller_states().await?;
    let pollers = crate::polling::health::pollers(&dash.app.config, &states, now);
    let rows: Vec<Value> = pollers
        .iter()
        .map(|poller| {
            let at = |time: &Option<chrono::DateTime<chrono::Utc>>| time.as_ref().map(when);
            context! {
                source => poller.source.clone(),
                url => poller.url.clone(),
                every => ago(poller.interval_seconds as i64),
                polling => poller.polling,
                cursor => poller.cursor.clone(),
                last_poll_at => at(&poller.last_poll_at),
                last_success_at => at(&poller.last_success_at),
                lag => poller.lag_seconds.map(ago),
                last_items => poller.last_items,
                newest_item_at => at(&poller.newest_item_at),
                failures => poller.failures,
                last_error => poller.last_error.clone(),
                last_error_kind => poller.last_error_kind.map(|kind| kind.as_str()),
                last_error_at => at(&poller.last_error_at),
                next_poll_at => at(&poller.next_poll_at),
            }
        })
        .collect();
    dash.render(
        "pollers.html",
        "pollers",
        Some(&signed),
        context! { title => "Pollers", pollers => rows },
    )
}

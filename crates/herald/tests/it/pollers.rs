//! Pollers (issue 15, item 1) against a fake WorkOS Events API: the scenarios A.6 1–9 of
//! workos-events-consumer with herald's fixes in place of its quirks, failures that never
//! skip, one poller across replicas, `kill -9` mid-poll, and the CLI. The shared
//! configuration and helpers are here; the tests, by what they exercise, below.

mod cli;
mod crash;
mod dashboard;
mod failures;
mod live;
mod preset;
mod replicas;

use crate::fakes::workos::FakeWorkos;
use crate::support::*;
use herald::polling::{Cycle, PollOutcome};
use herald_store::model::{Event, EventQuery, PollerState};
use tokio_util::sync::CancellationToken;

pub const KEY: &str = "sk_test_a1b2c3";

/// The nine entity event types workos-events-consumer handles.
pub const TYPES: [&str; 9] = [
    "organization.created",
    "organization.updated",
    "organization.deleted",
    "organization_membership.created",
    "organization_membership.updated",
    "organization_membership.deleted",
    "user.created",
    "user.updated",
    "user.deleted",
];

/// The WorkOS poller, its events forwarded to `{SINK}/apply`, credential alerts to
/// `{SINK}/alerts`. `{WORKOS}` is the fake's URL, `{START}` where a poller without a
/// cursor starts.
const CONFIG: &str = r#"
[server]
admin_secret = "admin"

[secrets]
admin = "admin-token-for-tests"
workos_key = "sk_test_a1b2c3"

[sources.workos]
kind = "poller"
url = "{WORKOS}/events"
bearer = "workos_key"
interval = "1m"
next_cursor = "list_metadata.after"
items = "data"
id = "id"
type = "event"
time = "created_at"
start = "{START}"
range_start_param = "range_start"
range_end_param = "range_end"

[sources.workos.query]
events = [
    "organization.created", "organization.updated", "organization.deleted",
    "organization_membership.created", "organization_membership.updated",
    "organization_membership.deleted",
    "user.created", "user.updated", "user.deleted",
]
order = "asc"
limit = "100"

[rules.apply]
sources = ["workos"]
actions = ["apply"]

[actions.apply]
kind = "http"
url = "{SINK}/apply"
body = '{"id": {{ meta.dedup_key }}, "type": {{ meta.type }}}'
retry = { schedule = ["1s"], jitter = 0 }

[rules.alerts]
sources = ["herald"]
events = ["monitor.*"]
actions = ["alert"]

[actions.alert]
kind = "http"
url = "{SINK}/alerts"
body = '{"text": {{ event.text }}}'

[monitors.credentials]
kind = "credential"

[storage]
path = "herald.db"
"#;

/// The configuration for `workos`, starting at `start` (`now` or a time).
pub fn config(workos: &FakeWorkos, start: &str) -> String {
    CONFIG
        .replace("{WORKOS}", &workos.url)
        .replace("{START}", start)
}

/// A herald polling `workos`, delivering to a fresh sink.
pub async fn spawn(workos: &FakeWorkos, start: &str) -> (TestApp, Sink) {
    let sink = Sink::start().await;
    let app = spawn_app(&config(workos, start), &sink.url).await;
    (app, sink)
}

/// Ask `app` to poll `workos` (when due, or now with `force`).
pub async fn poll(app: &TestApp, force: bool) -> PollOutcome {
    app.app
        .pollers
        .poll("workos", force, &CancellationToken::new())
        .await
        .unwrap()
}

/// Poll now; the poll's report.
pub async fn poll_now(app: &TestApp) -> Cycle {
    match poll(app, true).await {
        PollOutcome::Polled { cycle, .. } => cycle,
        other => panic!("not polled: {other:?}"),
    }
}

pub async fn state(app: &TestApp) -> PollerState {
    let states = app.store.poller_states().await.unwrap();
    states
        .into_iter()
        .find(|s| s.source == "workos")
        .expect("the poller has a state")
}

/// The events of `workos`, oldest first.
pub async fn events(app: &TestApp) -> Vec<Event> {
    let mut all = Vec::new();
    let mut before = None;
    loop {
        let page = app
            .store
            .list_events(&EventQuery {
                source: Some("workos".into()),
                before,
                limit: 500,
                ..Default::default()
            })
            .await
            .unwrap();
        let done = page.len() < 500;
        before = page.last().map(|e| e.id);
        all.extend(page);
        if done {
            break;
        }
    }
    all.reverse();
    all
}

/// The dedup keys (WorkOS event ids) of `workos`'s events, oldest first.
pub async fn stored_ids(app: &TestApp) -> Vec<String> {
    events(app)
        .await
        .into_iter()
        .map(|e| e.dedup_key.unwrap())
        .collect()
}

/// The `events` parameter as the Node SDK sends it: the nine types, comma-joined.
pub fn all_types() -> String {
    TYPES.join(",")
}

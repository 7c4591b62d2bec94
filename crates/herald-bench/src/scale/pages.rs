//! `herald-bench scale --pages`: every dashboard page rendered on the filled store through
//! herald's own router, in this process (no socket): herald's `App` is built on the store
//! with a configuration whose sources, rule and action are the fill's, a session is made by
//! signing in at `POST /ui/login`, and each page is requested with its cookie, the whole
//! response body read. The clock stands a minute after the newest event, so the overview's
//! last hour holds the fill's last 1,800 events.

use super::data;
use super::{Timing, ms, time};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use herald::clock::ManualClock;
use herald_store::SharedStore;
use herald_store::model::{DeliveryQuery, EventQuery};
use tower::ServiceExt;

/// The admin token the pages are signed in with.
const TOKEN: &str = "herald-bench-admin-token";

/// The fill's sources, its one rule and its one `http` action (the URL is never called:
/// no worker runs).
const CONFIG: &str = r#"
[server]
admin_secret = "admin"

[secrets]
admin = "herald-bench-admin-token"
github = "herald-bench-github-secret"
circleci = "herald-bench-circleci-secret"
stripe = "whsec_aGVyYWxkLWJlbmNoLXN0cmlwZS1zZWNyZXQ="
slack = "herald-bench-slack-secret"

[sources.github]
kind = "github"
secrets = ["github"]

[sources.circleci]
kind = "circleci"
secrets = ["circleci"]

[sources.stripe]
kind = "standard-webhooks"
secrets = ["stripe"]

[sources.slack]
kind = "slack"
secrets = ["slack"]

[rules.forward]
sources = ["github", "circleci", "stripe", "slack"]
actions = ["sink"]

[actions.sink]
kind = "http"
url = "https://hooks.example.com/herald/forward"

[storage]
path = "herald-bench-pages.db"
"#;

/// Text no payload holds: a search for it reads as far as a page's search goes.
const ABSENT: &str = "no-payload-holds-this";
/// Text in many payloads (a pusher, one in five).
const COMMON: &str = "Grace";

/// Time every page; print a table of the first request and the median of `runs` more.
pub async fn measure(store: &SharedStore, runs: usize) -> anyhow::Result<()> {
    let newest = store
        .list_events(&EventQuery {
            limit: 1,
            ..EventQuery::default()
        })
        .await?;
    let Some(newest) = newest.first() else {
        anyhow::bail!("no events to show");
    };
    let now = newest.received_at + chrono::Duration::minutes(1);
    // An event from the middle of the store, and its delivery: a page deep in the lists.
    let middle_at = data::start() + (newest.received_at - data::start()) / 2;
    let middle = store
        .list_events(&EventQuery {
            until: Some(middle_at),
            limit: 1,
            ..EventQuery::default()
        })
        .await?;
    let event = middle.first().unwrap_or(newest);
    let delivery = store
        .list_deliveries(&DeliveryQuery {
            event_id: Some(event.id),
            limit: 1,
            ..DeliveryQuery::default()
        })
        .await?;
    let Some(delivery) = delivery.first() else {
        anyhow::bail!("event {} has no delivery", event.id);
    };

    let dir = tempfile::Builder::new().prefix("herald-pages").tempdir()?;
    let config_path = dir.path().join("herald.toml");
    std::fs::write(&config_path, CONFIG)?;
    let loaded = herald::config::load(&config_path, &herald::integrations::catalog())
        .map_err(|report| anyhow::anyhow!("{}", report.render(false)))?;
    let app = herald::app::App::new(loaded.config, store.clone(), ManualClock::new(now));
    let router = app.router();
    let cookie = sign_in(&router).await?;

    let (event_id, delivery_id) = (event.id, delivery.id);
    let pages: Vec<(String, String)> = vec![
        ("overview".into(), "/ui".into()),
        ("events".into(), "/ui/events".into()),
        (
            "events, a page from the middle (before=)".into(),
            format!("/ui/events?before={event_id}"),
        ),
        (
            "events ?source=github&type=push".into(),
            "/ui/events?source=github&type=push".into(),
        ),
        (
            "events ?source=github&type=release".into(),
            "/ui/events?source=github&type=release".into(),
        ),
        (
            "events ?source=stripe".into(),
            "/ui/events?source=stripe".into(),
        ),
        (
            format!("events ?q={COMMON} (found often)"),
            format!("/ui/events?q={COMMON}"),
        ),
        (
            "events ?q=<absent> (reads a page's limit)".into(),
            format!("/ui/events?q={ABSENT}"),
        ),
        (
            "event page (with its explanation)".into(),
            format!("/ui/events/{event_id}"),
        ),
        ("deliveries".into(), "/ui/deliveries".into()),
        (
            "deliveries, a page from the middle".into(),
            format!("/ui/deliveries?before={delivery_id}"),
        ),
        (
            "deliveries ?status=dead (none)".into(),
            "/ui/deliveries?status=dead".into(),
        ),
        (
            "deliveries ?status=succeeded&action=sink".into(),
            "/ui/deliveries?status=succeeded&action=sink".into(),
        ),
        (
            "deliveries ?rule=forward".into(),
            "/ui/deliveries?rule=forward".into(),
        ),
        (
            "deliveries ?action=sink".into(),
            "/ui/deliveries?action=sink".into(),
        ),
        (
            "delivery page (its attempt)".into(),
            format!("/ui/deliveries/{delivery_id}"),
        ),
        ("windows".into(), "/ui/windows".into()),
        ("alerts".into(), "/ui/alerts".into()),
    ];
    println!("  dashboard pages (clock at {now}; the whole response read):");
    let mut timings: Vec<(String, String, Timing)> = Vec::new();
    for (name, path) in pages {
        let timing = time(runs, || get(&router, &path, &cookie)).await?;
        println!(
            "    {name:<45} first {:>9}, median of {runs} {:>9} ({} KB)",
            ms(timing.first),
            ms(timing.median),
            timing.rows / 1024
        );
        timings.push((name, path, timing));
    }
    let slowest = timings
        .iter()
        .max_by_key(|(_, _, timing)| timing.median)
        .map(|(name, _, timing)| format!("{name} ({})", ms(timing.median)));
    if let Some(slowest) = slowest {
        println!("  slowest page: {slowest}");
    }
    Ok(())
}

/// Sign in with the admin token; the session cookie (`name=value`).
async fn sign_in(router: &axum::Router) -> anyhow::Result<String> {
    let request = Request::post("/ui/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("token={TOKEN}")))?;
    let response = router.clone().oneshot(request).await?;
    anyhow::ensure!(
        response.status() == StatusCode::SEE_OTHER,
        "signing in answered {}",
        response.status()
    );
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .ok_or_else(|| anyhow::anyhow!("no session cookie"))?
        .to_str()?;
    Ok(cookie.split(';').next().unwrap_or_default().to_string())
}

/// One page, read whole; its length in bytes.
async fn get(router: &axum::Router, path: &str, cookie: &str) -> anyhow::Result<usize> {
    let request = Request::get(path)
        .header(header::COOKIE, cookie)
        .body(Body::empty())?;
    let response = router.clone().oneshot(request).await?;
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
    anyhow::ensure!(
        status == StatusCode::OK,
        "{path} answered {status}: {}",
        String::from_utf8_lossy(&body)
    );
    Ok(body.len())
}

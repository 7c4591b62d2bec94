//! Traces (issue 15, item 3) against a fake OTLP/HTTP collector that decodes what it
//! receives: one trace per event, from a webhook's ingest or a poll through its rule to
//! each delivery attempt; no secret in any span; ingest and polling unaffected by a
//! collector that is down or hangs; nothing exported or started with telemetry off; the
//! spans flushed when `herald serve` stops.

mod collector;
mod process;

use crate::fakes::workos::FakeWorkos;
use crate::pollers;
use crate::support::*;
use collector::{Collector, Span};
use herald::traces::span_of;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use uuid::Uuid;

const SINK_TOKEN: &str = "sink-token-0c77b2e1";
const COLLECTOR_TOKEN: &str = "collector-token-5e1d9a44";
/// Written into payloads: no span may carry it.
const MARKER: &str = "payload-marker-8f3e6d";

/// A GitHub source forwarding to `{SINK}/hook` with a bearer token, traces to
/// `{COLLECTOR}` with a token header.
const CONFIG: &str = r#"
[server]
admin_secret = "admin"

[secrets]
github = "It's a Secret to Everybody"
admin = "admin-token-for-tests"
sink_token = "sink-token-0c77b2e1"
collector_token = "collector-token-5e1d9a44"

[telemetry]
endpoint = "{COLLECTOR}"
service_name = "herald-under-test"
headers = { "x-collector-token" = "collector_token" }

[sources.github]
kind = "github"
secrets = ["github"]

[rules.forward]
sources = ["github"]
events = ["pull_request.*"]
actions = ["sink"]

[actions.sink]
kind = "http"
url = "{SINK}/hook"
headers = { Authorization = "Bearer {{ secret('sink_token') }}" }
body = '{"title": {{ event.pull_request.title }}}'
retry = { schedule = ["1s"], jitter = 0 }
"#;

fn config(collector: &str) -> String {
    CONFIG.replace("{COLLECTOR}", collector)
}

/// `CONFIG` without `[telemetry]`.
fn config_off() -> String {
    let start = CONFIG.find("[telemetry]").unwrap();
    let end = CONFIG.find("[sources.github]").unwrap();
    format!("{}{}", &CONFIG[..start], &CONFIG[end..])
}

fn pull_request_with_marker(number: u64) -> String {
    json!({"action": "opened", "number": number, "pull_request": {"title": MARKER}}).to_string()
}

/// Post a signed pull request; the event id herald answered with.
async fn post(app: &TestApp, delivery: &str) -> (u16, Value) {
    let response = app
        .github(
            "pull_request",
            delivery,
            &pull_request_with_marker(7),
            GITHUB_SECRET,
        )
        .await;
    (response.status().as_u16(), response.json().await.unwrap())
}

fn event_id(answer: &Value) -> Uuid {
    answer["event_id"].as_str().unwrap().parse().unwrap()
}

fn hex_span(id: Uuid) -> String {
    hex::encode(span_of(id))
}

fn named<'a>(spans: &'a [Span], name: &str) -> Vec<&'a Span> {
    spans.iter().filter(|s| s.name == name).collect()
}

fn only<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    let found = named(spans, name);
    assert_eq!(found.len(), 1, "one `{name}` span in {spans:#?}");
    found[0]
}

/// Every secret and the payload marker, absent from every byte the collector received
/// (attribute values, names, status messages, the resource) and from every header but
/// the one meant to carry the collector's token.
fn assert_no_secret(collector: &Collector, more: &[&str]) {
    let secrets = [
        GITHUB_SECRET,
        ADMIN_TOKEN,
        SINK_TOKEN,
        COLLECTOR_TOKEN,
        MARKER,
    ];
    let exports = collector.exports();
    assert!(!exports.is_empty(), "nothing was exported");
    for export in &exports {
        let body = String::from_utf8_lossy(&export.body);
        let decoded = format!("{:?}", export.request);
        for secret in secrets.iter().chain(more) {
            assert!(!body.contains(secret), "{secret} in an export: {decoded}");
            assert!(!decoded.contains(secret), "{secret} in {decoded}");
        }
        for (name, value) in &export.headers {
            let value = value.to_str().unwrap_or_default();
            if name == "x-collector-token" {
                assert_eq!(value, COLLECTOR_TOKEN);
                continue;
            }
            for secret in secrets.iter().chain(more) {
                assert!(!value.contains(secret), "{secret} in header {name}");
            }
        }
    }
}

#[tokio::test]
async fn a_webhook_event_is_one_trace_from_ingest_through_its_rule_to_each_attempt() {
    let collector = Collector::start().await;
    let sink = Sink::start().await;
    sink.script([answer(503)]);
    let app = spawn_app(&config(&collector.url), &sink.url).await;
    assert!(app.app.traces.is_on());

    let (status, answer) = post(&app, "delivery-1").await;
    assert_eq!(status, 202, "{answer}");
    let event = event_id(&answer);
    let delivery = app.only_delivery().await;
    assert_eq!(app.deliver().await, 1, "503: a retry in 1s");
    app.advance(1.0);
    assert_eq!(app.deliver().await, 1, "then delivered");
    assert_eq!(sink.count(), 2);
    app.app.traces.flush().await;

    let trace = event.simple().to_string();
    let spans = collector.trace(&trace);
    assert_eq!(spans.len(), 4, "ingest, rule, two attempts: {spans:#?}");
    let ingest = only(&spans, "ingest github");
    assert_eq!(ingest.span_id, hex_span(event), "derived from the event id");
    assert_eq!(ingest.parent_span_id, "", "the root");
    assert_eq!(ingest.kind, 2, "server");
    assert_eq!(ingest.status.0, 1, "ok");
    for (key, value) in [
        ("herald.source", "github"),
        ("herald.event.type", "pull_request.opened"),
        ("herald.event.id", event.to_string().as_str()),
        ("herald.ingress", "webhook"),
        ("herald.outcome", "stored"),
        ("herald.deliveries", "1"),
    ] {
        assert_eq!(ingest.attribute(key), Some(value), "{key}: {ingest:#?}");
    }

    let rule = only(&spans, "rule forward");
    assert_eq!(rule.parent_span_id, ingest.span_id);
    assert_eq!(
        rule.span_id,
        hex_span(delivery.id),
        "derived from the delivery id"
    );
    for (key, value) in [
        ("herald.rule", "forward"),
        ("herald.action", "sink"),
        ("herald.delivery.id", delivery.id.to_string().as_str()),
        ("herald.route", "delivery"),
    ] {
        assert_eq!(rule.attribute(key), Some(value), "{key}: {rule:#?}");
    }
    assert!(ingest.start <= rule.start && rule.end <= ingest.end);

    let mut attempts = named(&spans, "deliver sink");
    attempts.sort_by_key(|s| s.attribute("herald.attempt").map(str::to_string));
    let [first, second] = attempts[..] else {
        panic!("two attempts: {attempts:#?}")
    };
    for (n, attempt) in [(1, first), (2, second)] {
        assert_eq!(attempt.parent_span_id, rule.span_id, "a child of the rule");
        assert_eq!(attempt.kind, 3, "client");
        assert!(attempt.start >= ingest.end, "after the ingest");
        assert_eq!(
            attempt.attribute("herald.attempt"),
            Some(n.to_string().as_str())
        );
        for (key, value) in [
            ("herald.delivery.id", delivery.id.to_string().as_str()),
            ("herald.rule", "forward"),
            ("herald.action", "sink"),
            ("herald.action.kind", "http"),
            ("herald.source", "github"),
            ("herald.event.type", "pull_request.opened"),
        ] {
            assert_eq!(attempt.attribute(key), Some(value), "{key}: {attempt:#?}");
        }
    }
    assert_eq!(first.attribute("herald.outcome"), Some("retry"));
    assert_eq!(first.attribute("http.response.status_code"), Some("503"));
    assert_eq!(first.status.0, 2, "error");
    assert!(first.attribute("herald.retry.at").is_some());
    assert_eq!(second.attribute("herald.outcome"), Some("success"));
    assert_eq!(second.attribute("http.response.status_code"), Some("200"));
    assert_eq!(second.status.0, 1, "ok");

    for span in &spans {
        assert_eq!(span.service, "herald-under-test");
        assert_eq!(span.scope, "herald");
    }
    for export in collector.exports() {
        assert_eq!(
            export.headers["content-type"], "application/x-protobuf",
            "OTLP/HTTP protobuf"
        );
    }
    assert_no_secret(&collector, &[]);
}

#[tokio::test]
async fn a_repeated_delivery_is_its_own_trace_naming_the_event_it_repeats() {
    let collector = Collector::start().await;
    let sink = Sink::start().await;
    let app = spawn_app(&config(&collector.url), &sink.url).await;
    let (_, first) = post(&app, "delivery-1").await;
    let (status, again) = post(&app, "delivery-1").await;
    assert_eq!(status, 200);
    assert_eq!(again["duplicate"], true);
    app.app.traces.flush().await;

    let spans = collector.spans();
    let duplicate: Vec<&Span> = spans
        .iter()
        .filter(|s| s.attribute("herald.outcome") == Some("duplicate"))
        .collect();
    assert_eq!(duplicate.len(), 1, "{spans:#?}");
    let duplicate = duplicate[0];
    assert_ne!(duplicate.trace_id, event_id(&first).simple().to_string());
    assert_eq!(
        duplicate.attribute("herald.event.original_id"),
        Some(event_id(&first).to_string().as_str())
    );
    assert_eq!(duplicate.attribute("herald.deliveries"), Some("0"));
    assert_eq!(
        collector.trace(&duplicate.trace_id).len(),
        1,
        "no rule span: nothing was written"
    );
}

#[tokio::test]
async fn no_secret_reaches_the_collector_even_when_a_destination_fails() {
    let collector = Collector::start().await;
    let sink = Sink::start().await;
    // An answer that echoes what it was sent: its text stays out of the spans.
    let echoed = format!("bad token {SINK_TOKEN} for {MARKER}");
    sink.script([Answer {
        body: echoed,
        ..answer(401)
    }]);
    let app = spawn_app(&config(&collector.url), &sink.url).await;
    let (status, _) = post(&app, "delivery-1").await;
    assert_eq!(status, 202);
    // A request with a bad signature: refused, and no trace.
    let refused = app
        .github(
            "pull_request",
            "delivery-2",
            &pull_request_with_marker(8),
            "wrong secret",
        )
        .await;
    assert_eq!(refused.status(), 401);
    assert_eq!(app.deliver().await, 1);
    app.app.traces.flush().await;

    let spans = collector.spans();
    let attempt = only(&spans, "deliver sink");
    assert_eq!(attempt.attribute("herald.outcome"), Some("dead"));
    assert_eq!(attempt.attribute("http.response.status_code"), Some("401"));
    assert_eq!(attempt.status.0, 2);
    assert!(
        attempt.status.1.contains("status 401"),
        "{:?}",
        attempt.status
    );
    assert!(
        !attempt.status.1.contains("bad token"),
        "the error text is not the status: {:?}",
        attempt.status
    );
    assert_eq!(
        named(&spans, "ingest github").len(),
        1,
        "the refused one has none"
    );
    assert_no_secret(&collector, &["bad token", "wrong secret"]);
}

#[tokio::test]
async fn a_polled_event_is_one_trace_from_the_poll_through_its_rule_to_its_delivery() {
    let collector = Collector::start().await;
    let workos = FakeWorkos::start(pollers::KEY).await;
    let sink = Sink::start().await;
    let text = format!(
        "{}\n[telemetry]\nendpoint = \"{}\"\n",
        pollers::config(&workos, "2026-11-22T09:00:00Z"),
        collector.url
    );
    let app = spawn_app(&text, &sink.url).await;
    let item = workos.publish_entity("user.created", "user_01");
    let cycle = pollers::poll_now(&app).await;
    assert_eq!((cycle.items, cycle.stored, cycle.failure), (1, 1, None));
    let event = pollers::events(&app).await.remove(0);
    assert_eq!(event.dedup_key.as_deref(), Some(item.as_str()));
    let delivery = app.only_delivery().await;
    assert_eq!(app.deliver().await, 1);
    app.app.traces.flush().await;

    let spans = collector.trace(&event.id.simple().to_string());
    assert_eq!(spans.len(), 4, "poll, fetch, rule, attempt: {spans:#?}");
    let poll = only(&spans, "poll workos");
    assert_eq!(poll.span_id, hex_span(event.id));
    assert_eq!(poll.parent_span_id, "");
    for (key, value) in [
        ("herald.source", "workos"),
        ("herald.event.type", "user.created"),
        ("herald.event.id", event.id.to_string().as_str()),
        ("herald.ingress", "poll"),
        ("herald.outcome", "stored"),
        ("herald.poll.page", "1"),
        ("herald.poll.items", "1"),
        ("herald.deliveries", "1"),
    ] {
        assert_eq!(poll.attribute(key), Some(value), "{key}: {poll:#?}");
    }
    let fetch = only(&spans, "fetch workos");
    assert_eq!(fetch.parent_span_id, poll.span_id);
    assert!(poll.start <= fetch.start && fetch.end <= poll.end);
    let rule = only(&spans, "rule apply");
    assert_eq!(rule.parent_span_id, poll.span_id);
    assert_eq!(rule.span_id, hex_span(delivery.id));
    assert_eq!(rule.attribute("herald.action"), Some("apply"));
    let attempt = only(&spans, "deliver apply");
    assert_eq!(attempt.parent_span_id, rule.span_id);
    assert_eq!(attempt.attribute("herald.outcome"), Some("success"));
    assert_eq!(attempt.attribute("herald.source"), Some("workos"));
    assert_eq!(attempt.attribute("herald.event.type"), Some("user.created"));
    assert_eq!(attempt.attribute("herald.attempt"), Some("1"));
    assert_no_secret(&collector, &[pollers::KEY]);
}

/// `herald poll --since` stores what it reads with traces as a poll does (`backfill`);
/// `--reprocess` adds a rule span for each new delivery to the stored event's trace.
#[tokio::test]
async fn a_backfill_traces_what_it_stores_and_a_reprocess_joins_the_stored_trace() {
    let collector = Collector::start().await;
    let workos = FakeWorkos::start(pollers::KEY).await;
    let sink = Sink::start().await;
    let text = format!(
        "{}\n[telemetry]\nendpoint = \"{}\"\n",
        pollers::config(&workos, "now"),
        collector.url
    );
    let app = spawn_app(&text, &sink.url).await;
    let since = start_time() - chrono::Duration::hours(1);
    workos.set_clock(since);
    workos.publish_entity("organization.created", "org_1");
    let backfill = |reprocess| {
        let range = herald::polling::backfill::Range {
            since,
            until: None,
            reprocess,
        };
        let pollers = app.app.pollers.clone();
        async move {
            let stop = tokio_util::sync::CancellationToken::new();
            pollers
                .backfill("workos", range, &mut |_| {}, &stop)
                .await
                .unwrap()
        }
    };
    let (first, failure) = backfill(false).await;
    assert_eq!((first.stored, failure), (1, None));
    let (again, _) = backfill(true).await;
    assert_eq!(again.reprocessed, 1);
    app.app.traces.flush().await;

    let event = pollers::events(&app).await.remove(0);
    let spans = collector.trace(&event.id.simple().to_string());
    let root = only(&spans, "poll workos");
    assert_eq!(root.attribute("herald.ingress"), Some("backfill"));
    let rules = named(&spans, "rule apply");
    assert_eq!(rules.len(), 2, "{spans:#?}");
    let mut deliveries: Vec<String> = app
        .deliveries()
        .await
        .iter()
        .map(|d| hex_span(d.id))
        .collect();
    deliveries.sort();
    let mut ids: Vec<String> = rules.iter().map(|r| r.span_id.clone()).collect();
    ids.sort();
    assert_eq!(
        ids, deliveries,
        "one rule span per delivery, as attempts name it"
    );
    assert!(rules.iter().all(|r| r.parent_span_id == root.span_id));
    assert!(
        rules
            .iter()
            .any(|r| r.attribute("herald.route") == Some("reprocessed"))
    );
    // The duplicate read by the reprocess is a trace of its own, with no rule span.
    let duplicates = collector
        .spans()
        .iter()
        .filter(|s| s.attribute("herald.outcome") == Some("duplicate"))
        .count();
    assert_eq!(duplicates, 1);
}

/// Pushes gathered in a window and sent as one digest.
const WINDOW: &str = r#"
[rules.digest]
sources = ["github"]
events = ["push"]
actions = ["digest"]
window = { quiet = "10s", max_wait = "5m" }

[actions.digest]
kind = "http"
url = "{SINK}/digest"
body = '{"count": {{ window.count }}}'
"#;

#[tokio::test]
async fn a_window_delivery_continues_its_newest_event_trace_and_links_every_event() {
    let collector = Collector::start().await;
    let sink = Sink::start().await;
    let app = spawn_app(&format!("{}{WINDOW}", config(&collector.url)), &sink.url).await;
    let mut events = Vec::new();
    for n in 0..2 {
        let body = json!({"after": format!("sha-{n}"), "repository": {"name": "api"}});
        let response = app
            .github(
                "push",
                &format!("push-{n}"),
                &body.to_string(),
                GITHUB_SECRET,
            )
            .await;
        assert_eq!(response.status(), 202);
        events.push(event_id(&response.json().await.unwrap()));
    }
    app.advance(11.0);
    assert_eq!(app.app.flusher.run_once().await.unwrap(), 1);
    let delivery = app.only_delivery().await;
    assert_eq!(app.deliver().await, 1);
    app.app.traces.flush().await;

    let first = collector.trace(&events[0].simple().to_string());
    assert_eq!(first.len(), 2, "{first:#?}");
    only(&first, "ingest github");
    let joined = only(&first, "rule digest");
    assert_eq!(joined.attribute("herald.route"), Some("window"));

    let newest = collector.trace(&events[1].simple().to_string());
    let ingest = only(&newest, "ingest github");
    let window = only(&newest, "window digest");
    assert_eq!(window.parent_span_id, ingest.span_id);
    assert_eq!(window.span_id, hex_span(delivery.id));
    let window_id = delivery.window_id.unwrap().to_string();
    assert_eq!(
        window.attribute("herald.window.id"),
        Some(window_id.as_str())
    );
    assert_eq!(window.attribute("herald.window.events"), Some("2"));
    let roots: Vec<(String, String)> = events
        .iter()
        .rev()
        .map(|e| (e.simple().to_string(), hex_span(*e)))
        .collect();
    assert_eq!(window.links, roots, "every event's ingest, newest first");
    let attempt = only(&newest, "deliver digest");
    assert_eq!(attempt.parent_span_id, window.span_id);
    assert_eq!(attempt.links, roots);
    assert_eq!(
        attempt.attribute("herald.window.id"),
        Some(window_id.as_str())
    );
    assert_eq!(attempt.attribute("herald.outcome"), Some("success"));
}

/// A port nothing listens on.
async fn closed_port() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

#[tokio::test]
async fn with_the_collector_down_ingest_answers_as_fast_as_without_traces() {
    let sink = Sink::start().await;
    let down = spawn_app(&config(&closed_port().await), &sink.url).await;
    let off = spawn_app(&config_off(), &sink.url).await;
    assert!(down.app.traces.is_on());
    assert!(!off.app.traces.is_on());
    // Warm both (connections, statements), then alternate so noise hits both alike.
    for app in [&down, &off] {
        assert_eq!(post(app, "warm-up").await.0, 202);
    }
    let (mut with_down, mut without) = (Vec::new(), Vec::new());
    for n in 0..60 {
        for (app, times) in [(&down, &mut with_down), (&off, &mut without)] {
            let started = Instant::now();
            let (status, answer) = post(app, &format!("delivery-{n}")).await;
            times.push(started.elapsed());
            assert_eq!(status, 202, "{answer}");
        }
        // Spans pile up while exports fail: flushing on the way must not slow ingest.
        if n % 20 == 10 {
            down.app.traces.flush().await;
        }
    }
    let (with_down, without) = (median(with_down), median(without));
    eprintln!("ingest median: collector down {with_down:?}, traces off {without:?}");
    // Equal but for noise (see the figures printed). An export in ingest's way would
    // cost each request a connection and three retries (100, 200, 400 ms) at least.
    assert!(
        with_down <= without * 3 + Duration::from_millis(50),
        "collector down {with_down:?} vs traces off {without:?}"
    );
    // Deliveries go on too.
    assert_eq!(down.deliver_all().await, 61);
}

#[tokio::test]
async fn with_the_collector_down_polling_goes_on() {
    let workos = FakeWorkos::start(pollers::KEY).await;
    let sink = Sink::start().await;
    let text = format!(
        "{}\n[telemetry]\nendpoint = \"{}\"\n",
        pollers::config(&workos, "2026-11-22T09:00:00Z"),
        closed_port().await
    );
    let app = spawn_app(&text, &sink.url).await;
    let published: Vec<String> = (0..250)
        .map(|n| workos.publish_entity("user.created", &format!("user_{n}")))
        .collect();
    let started = Instant::now();
    let cycle = pollers::poll_now(&app).await;
    let took = started.elapsed();
    assert_eq!((cycle.pages, cycle.stored, cycle.failure), (3, 250, None));
    assert_eq!(pollers::stored_ids(&app).await, published);
    assert_eq!(app.deliver_all().await, 250);
    assert_eq!(sink.count(), 250);
    eprintln!("250 items polled in {took:?} with the collector down");
}

/// A collector that accepts connections and never answers: each export waits its
/// timeout, the queue fills and spans are dropped, and ingest does not wait.
#[tokio::test]
async fn a_collector_that_hangs_never_holds_ingest_up() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let sink = Sink::start().await;
    let text = config(&url).replace(
        "service_name = \"herald-under-test\"",
        "service_name = \"herald-under-test\"\ntimeout = \"1s\"\nmax_queue = 8",
    );
    let app = spawn_app(&text, &sink.url).await;
    let mut times = Vec::new();
    for n in 0..40 {
        let started = Instant::now();
        assert_eq!(post(&app, &format!("delivery-{n}")).await.0, 202);
        times.push(started.elapsed());
    }
    let slowest = *times.iter().max().unwrap();
    let typical = median(times.clone());
    eprintln!("ingest with a hanging collector: median {typical:?}, slowest {slowest:?}");
    // An export waits its timeout (1 s) for an answer: ingest waiting on one would too.
    assert!(
        typical < Duration::from_millis(300),
        "median {typical:?}: {times:?}"
    );
}

#[tokio::test]
async fn the_telemetry_section_is_checked_when_loaded() {
    let load = |telemetry: &str| {
        let text = format!("[secrets]\ntoken = \"${{env:TOKEN}}\"\n\n[telemetry]\n{telemetry}");
        herald::config::from_text(
            std::path::Path::new("herald.toml"),
            &text,
            std::sync::Arc::new(|_| Some("a-token".to_string())),
            &herald::integrations::catalog(),
        )
        .map(|loaded| loaded.config.telemetry)
        .map_err(|report| report.short())
    };
    let off = load("").unwrap();
    assert_eq!(off.endpoint, None, "off without an endpoint");
    assert_eq!(off.service_name, "herald");
    let on = load("endpoint = \"http://collector:4318/\"\nheaders = { \"x-api-key\" = \"token\" }")
        .unwrap();
    assert_eq!(
        on.endpoint.as_deref(),
        Some("http://collector:4318/v1/traces")
    );
    assert_eq!(on.headers[0].0, "x-api-key");
    assert_eq!(on.headers[0].1.expose(), "a-token");
    let given = load("endpoint = \"https://otlp.example.com/v1/traces\"").unwrap();
    assert_eq!(
        given.endpoint.as_deref(),
        Some("https://otlp.example.com/v1/traces")
    );
    for (bad, says) in [
        (
            "endpoint = \"http://user:pw@collector:4318\"",
            "must not carry credentials",
        ),
        (
            "endpoint = \"http://collector:4318?key=1\"",
            "must not carry credentials",
        ),
        ("endpoint = \"collector:4318\"", "http(s) address"),
        (
            "endpoint = \"http://c:4318\"\nheaders = { \"x-api-key\" = \"nope\" }",
            "nope",
        ),
        ("endpoint = \"http://c:4318\"\nmax_queue = 0", "at least 1"),
        ("endpoint = \"http://c:4318\"\nsampling = 1", "sampling"),
    ] {
        let error = load(bad).unwrap_err();
        assert!(error.contains(says), "{bad}: {error}");
    }
}

#[tokio::test]
async fn without_telemetry_nothing_is_started_or_exported_even_with_otel_variables_set() {
    let collector = Collector::start().await;
    let sink = Sink::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("herald.toml"),
        config_off().replace("{SINK}", &sink.url),
    )
    .unwrap();
    // The variables OpenTelemetry SDKs read: herald reads `[telemetry]` only.
    let traces_url = format!("{}/v1/traces", collector.url);
    let herald = process::serve(
        dir.path(),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url.as_str()),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", traces_url.as_str()),
        ],
    );
    let (status, _) = herald.post_pull_request(&pull_request_with_marker(1)).await;
    assert_eq!(status, 202);
    process::wait_for(|| sink.count() == 1).await;
    assert!(
        !herald
            .threads()
            .iter()
            .any(|t| t.starts_with("OpenTelemetry")),
        "no exporter thread: {:?}",
        herald.threads()
    );
    assert!(process::stop(herald).await.success());
    assert!(collector.exports().is_empty());
}

#[tokio::test]
async fn serve_sends_the_queued_spans_when_it_stops() {
    let collector = Collector::start().await;
    let sink = Sink::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("herald.toml"),
        config(&collector.url).replace("{SINK}", &sink.url),
    )
    .unwrap();
    // Batches wait a minute: only the shutdown sends these.
    let herald = process::serve(dir.path(), &[("OTEL_BSP_SCHEDULE_DELAY", "60000")]);
    let (status, answer) = herald.post_pull_request(&pull_request_with_marker(1)).await;
    assert_eq!(status, 202);
    process::wait_for(|| sink.count() == 1).await;
    assert!(
        herald
            .threads()
            .iter()
            .any(|t| t.starts_with("OpenTelemetry")),
        "the exporter's thread: {:?}",
        herald.threads()
    );
    assert!(collector.exports().is_empty(), "nothing sent yet");
    assert!(process::stop(herald).await.success());

    let spans = collector.trace(&event_id(&answer).simple().to_string());
    let mut names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["deliver sink", "ingest github", "rule forward"]);
    assert_no_secret(&collector, &[]);
}

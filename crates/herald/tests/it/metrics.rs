//! `/metrics` explains itself: every family has its `# HELP`, and the gauges read from the
//! store (oldest due delivery, open windows, open alerts) and the writer's histograms are
//! there.

use crate::support::*;
use std::collections::BTreeSet;

/// Pull requests forwarded at once, pushes gathered in a window, rejected signatures watched.
const CONFIG: &str = r#"
[secrets]
github = "It's a Secret to Everybody"

[sources.github]
kind = "github"
secrets = ["github"]

[rules.forward]
sources = ["github"]
events = ["pull_request.*"]
actions = ["sink"]

[rules.digest]
sources = ["github"]
events = ["push"]
actions = ["sink"]
window = { quiet = "10m", max_wait = "1h" }

[actions.sink]
kind = "http"
url = "{SINK}/hook"
body = '{"type": {{ meta.type }}}'
retry = { schedule = ["1s"], jitter = 0 }

[monitors.signatures]
kind = "signature-failures"
sources = ["github"]
threshold = 2
window = "5m"

[storage]
path = "herald.db"
"#;

async fn scrape(app: &TestApp) -> String {
    let response = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// The value of the sample written exactly `series` (name and labels), if any.
fn value(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?.strip_prefix(' ')?;
        rest.parse().ok()
    })
}

/// The families named by `# TYPE` and by `# HELP` lines.
fn families(metrics: &str) -> (BTreeSet<&str>, BTreeSet<&str>) {
    let named = |prefix: &str| -> BTreeSet<&str> {
        (metrics.lines())
            .filter_map(|line| line.strip_prefix(prefix)?.split(' ').next())
            .collect()
    };
    (named("# TYPE "), named("# HELP "))
}

#[tokio::test]
async fn every_family_has_help_and_the_new_gauges_are_there() {
    let sink = Sink::start().await;
    let app = spawn_app(CONFIG, &sink.url).await;
    let opened = app
        .github("pull_request", "pr-1", &pull_request(1), GITHUB_SECRET)
        .await;
    assert_eq!(opened.status(), 202);
    let pushed = app
        .github("push", "push-1", r#"{"after": "abc"}"#, GITHUB_SECRET)
        .await;
    assert_eq!(pushed.status(), 202);
    for n in 0..2 {
        let refused = app.github("push", &format!("bad-{n}"), "{}", "wrong").await;
        assert_eq!(refused.status(), 401);
    }
    assert_eq!(app.app.monitors.run_once().await.unwrap().len(), 1);
    // The pull request's delivery has been due, unclaimed, for 30 s.
    app.advance(30.0);

    let metrics = scrape(&app).await;
    let (typed, described) = families(&metrics);
    let undescribed: Vec<_> = typed.difference(&described).collect();
    assert!(undescribed.is_empty(), "no # HELP for {undescribed:?}");
    for family in [
        "herald_build_info",
        "herald_queue_oldest_due_age_seconds",
        "herald_windows_open",
        "herald_alerts_open",
        "herald_writer_batch_jobs",
        "herald_writer_commit_duration_seconds",
        "herald_ingress_requests_total",
        "herald_signature_failures_total",
    ] {
        assert!(typed.contains(family), "no {family} in\n{metrics}");
    }
    // build.rs names the commit ("unknown" outside a git checkout).
    let commit = option_env!("HERALD_COMMIT")
        .map(|commit| format!(",commit=\"{commit}\""))
        .unwrap_or_default();
    let version = format!(
        "herald_build_info{{version=\"{}\"{commit}}}",
        env!("CARGO_PKG_VERSION")
    );
    let expected = [
        (version.as_str(), 1.0),
        ("herald_queue_oldest_due_age_seconds", 30.0),
        ("herald_queue_due", 1.0),
        ("herald_windows_open{rule=\"digest\"}", 1.0),
        ("herald_alerts_open{monitor=\"signatures\"}", 1.0),
    ];
    for (series, wanted) in expected {
        assert_eq!(
            value(&metrics, series),
            Some(wanted),
            "{series} in\n{metrics}"
        );
    }
    assert!(metrics.contains("# TYPE herald_writer_batch_jobs histogram"));
    assert!(metrics.contains("herald_writer_batch_jobs_bucket{le=\"256\"}"));
    assert!(metrics.contains("herald_writer_commit_duration_seconds_bucket{le=\"0.0001\"}"));
    // Two appends and the alert at least, each in a batch of its own or shared.
    let batches = value(&metrics, "herald_writer_batch_jobs_count").unwrap();
    let jobs = value(&metrics, "herald_writer_batch_jobs_sum").unwrap();
    assert!(
        batches >= 1.0 && jobs >= 3.0,
        "{batches} batches, {jobs} jobs"
    );

    // Delivered, nothing is due any more; the window is still gathering.
    assert_eq!(app.deliver().await, 1);
    let metrics = scrape(&app).await;
    assert_eq!(
        value(&metrics, "herald_queue_oldest_due_age_seconds"),
        Some(0.0)
    );
    assert_eq!(value(&metrics, "herald_queue_due"), Some(0.0));
    assert_eq!(
        value(&metrics, "herald_windows_open{rule=\"digest\"}"),
        Some(1.0)
    );
}

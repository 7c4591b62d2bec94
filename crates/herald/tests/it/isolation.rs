//! One slow destination does not delay the others: with a destination that hangs until
//! its timeout on the same rule, deliveries to a healthy one stay prompt, because one
//! action takes at most half the worker's slots.

use crate::crash::start;
use crate::support::*;
use std::collections::HashMap;
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
[secrets]
github = "It's a Secret to Everybody"

[sources.github]
kind = "github"
secrets = ["github"]

[rules.both]
sources = ["github"]
actions = ["fast", "slow"]

[actions.fast]
kind = "http"
url = "{FAST}/hook"
body = '{"delivery": {{ meta.dedup_key }}}'

[actions.slow]
kind = "http"
url = "{SLOW}/hook"
body = '{"delivery": {{ meta.dedup_key }}}'
timeout = "8s"

[delivery]
poll_interval = "100ms"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hanging_destination_leaves_a_healthy_one_prompt() {
    let (fast, slow) = (Sink::start().await, Sink::start().await);
    slow.answer_after(Duration::from_secs(30));
    let dir = tempfile::tempdir().unwrap();
    let config = CONFIG
        .replace("{FAST}", &fast.url)
        .replace("{SLOW}", &slow.url);
    std::fs::write(dir.path().join("herald.toml"), config).unwrap();
    let (mut child, address) = start(dir.path());
    let client = client();
    // 50 events a second for 6 seconds.
    let mut sent = HashMap::new();
    let started = Instant::now();
    for n in 0..300u32 {
        let due = started + Duration::from_millis(20 * u64::from(n));
        tokio::time::sleep_until(due.into()).await;
        let delivery = format!("iso-{n}");
        let body = serde_json::json!({"ref": "refs/heads/main", "n": n}).to_string();
        let response = post_github(
            &client,
            &format!("http://{address}"),
            ("push", &delivery),
            &body,
            GITHUB_SECRET,
        )
        .await;
        assert_eq!(response.status(), 202);
        sent.insert(delivery, Instant::now());
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while fast.count() < sent.len() {
        assert!(
            Instant::now() < deadline,
            "{} of {} reached the healthy destination",
            fast.count(),
            sent.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill();
    let mut latencies: Vec<Duration> = fast
        .received()
        .iter()
        .map(|received| {
            let body: serde_json::Value = serde_json::from_str(&received.body).unwrap();
            let delivery = body["delivery"].as_str().unwrap();
            received.at.saturating_duration_since(sent[delivery])
        })
        .collect();
    latencies.sort();
    let p50 = latencies[latencies.len() / 2];
    let p99 = latencies[latencies.len() * 99 / 100];
    eprintln!(
        "healthy destination beside a hanging one: p50 {p50:?}, p99 {p99:?}, max {:?}; the hanging one got {} requests",
        latencies.last().unwrap(),
        slow.count()
    );
    assert!(p99 < Duration::from_secs(1), "p99 {p99:?}");
    assert!(slow.count() > 0, "the slow destination was tried");
}

//! Three real `herald serve` processes on one PostgreSQL database, each taking events;
//! one is killed with `kill -9` mid-delivery. Nothing acknowledged is lost, the dead
//! process's deliveries are taken over within seconds, and each Slack key has one root.

use crate::crash;
use crate::fakes::slack::FakeSlack;
use crate::postgres::FreshDatabase;
use crate::support::*;
use sqlx::{Connection, PgConnection};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const TOKEN: &str = "xoxb-test-token";
const CHANNEL: &str = "C0REPLICAS";
const EVENTS: u64 = 150;
const KEYS: u64 = 10;

fn config(database_url: &str, sink: &str, slack: &str) -> String {
    format!(
        r##"
[secrets]
github = "It's a Secret to Everybody"
slack_bot = "{TOKEN}"

[slack]
pace = "1ms"
burst = 1000

[sources.github]
kind = "github"
secrets = ["github"]

[rules.forward]
sources = ["github"]
events = ["pull_request.*"]
actions = ["sink", "thread"]

[actions.sink]
kind = "http"
url = "{sink}/hook"
body = '{{"delivery": {{{{ meta.dedup_key }}}}}}'
timeout = "5s"
retry = {{ schedule = ["200ms", "500ms", "1s"], jitter = 0 }}

[actions.thread]
kind = "slack"
token = "slack_bot"
api_url = "{slack}"
channel = "{CHANNEL}"
key = "pr:{{{{ event.number }}}}"
text = "PR {{{{ event.number }}}}"
reply_text = "{{{{ meta.dedup_key }}}}"
timeout = "5s"
retry = {{ schedule = ["200ms", "500ms", "1s"], jitter = 0 }}

# Few deliveries at once, so no replica can lease most of the work before the others
# start (with the default 32, up to 128 a replica, the first one sometimes held none).
[delivery]
lease = "2m"
poll_interval = "100ms"
concurrency = 4

[storage]
backend = "postgres"
url = "{database_url}"
"##
    )
}

/// Deliveries leased by the owners matching `pattern` (SQL LIKE).
async fn held_by(database: &mut PgConnection, pattern: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM deliveries WHERE lease_token IS NOT NULL AND lease_owner LIKE $1",
    )
    .bind(pattern)
    .fetch_one(database)
    .await
    .unwrap()
}

/// Deliveries not yet succeeded, and all of them.
async fn outstanding(database: &mut PgConnection) -> (i64, i64) {
    sqlx::query_as("SELECT COUNT(*) FILTER (WHERE status <> 'succeeded'), COUNT(*) FROM deliveries")
        .fetch_one(database)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_on_postgres_survive_a_kill_9_mid_delivery() {
    let test = "three_replicas_on_postgres_survive_a_kill_9_mid_delivery";
    let Some((_database, url)) = FreshDatabase::create(test).await else {
        return;
    };
    let sink = Sink::start().await;
    // Slow destinations, so every process has deliveries in flight when one is killed.
    sink.answer_after(Duration::from_millis(100));
    let slack = FakeSlack::start(TOKEN, Duration::ZERO).await;
    slack.hold_answers("chat.postMessage", Duration::from_millis(30));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("herald.toml"),
        config(&url, &sink.url, &slack.url),
    )
    .unwrap();
    let mut replicas: Vec<_> = (0..3).map(|_| crash::start(dir.path())).collect();
    let bases: Vec<String> = replicas
        .iter()
        .map(|(_, address)| format!("http://{address}"))
        .collect();

    let http = client();
    let mut acknowledged = BTreeSet::new();
    for n in 0..EVENTS {
        let delivery = format!("replica-{n}");
        let body = pull_request(n % KEYS);
        let base = &bases[(n % 3) as usize];
        let response = post_github(
            &http,
            base,
            ("pull_request", &delivery),
            &body,
            GITHUB_SECRET,
        )
        .await;
        assert_eq!(response.status(), 202, "{delivery}");
        acknowledged.insert(delivery);
    }
    // Kill a process while it holds deliveries (its lease owner names its pid): the first
    // seen holding two, so one finishing just before the kill still leaves one orphaned.
    // Any of the three: on a loaded machine one may start claiming after the others have
    // taken the work. Generous, for the whole suite at once.
    let mut database = PgConnection::connect(&url).await.unwrap();
    let owners: Vec<String> = replicas
        .iter()
        .map(|(herald, _)| format!("%:{}:%", herald.pid()))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    let victim = loop {
        let mut holding = None;
        for (index, owner) in owners.iter().enumerate() {
            if held_by(&mut database, owner).await >= 2 {
                holding = Some(index);
                break;
            }
        }
        if let Some(index) = holding {
            break index;
        }
        assert!(
            Instant::now() < deadline,
            "no process ever held two deliveries"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    replicas[victim].0.kill();
    let owner = &owners[victim];
    let killed_at = Instant::now();
    let orphaned = held_by(&mut database, owner).await;
    assert!(orphaned > 0);
    loop {
        let (left, total) = outstanding(&mut database).await;
        if left == 0 {
            assert_eq!(total, 2 * EVENTS as i64);
            break;
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(15),
            "{left} of {total} deliveries not done 15 s after the kill"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "three replicas: every delivery done {:?} after the kill ({orphaned} were held by the killed process)",
        killed_at.elapsed()
    );
    for (mut herald, _) in replicas.drain(..) {
        herald.kill();
    }

    let delivered: BTreeSet<String> = sink
        .received()
        .iter()
        .map(|received| {
            let body: serde_json::Value = serde_json::from_str(&received.body).unwrap();
            body["delivery"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        delivered, acknowledged,
        "every acknowledged event reached the sink"
    );

    let roots = slack.roots(CHANNEL);
    let mut texts: Vec<&str> = roots.iter().map(|(_, text)| text.as_str()).collect();
    texts.sort();
    let mut expected: Vec<String> = (0..KEYS).map(|key| format!("PR {key}")).collect();
    expected.sort();
    assert_eq!(texts, expected, "one root per key");
    // Every other event of a key is a reply in its root's thread (at least once).
    let replied: BTreeSet<String> = roots.iter().flat_map(|(ts, _)| slack.replies(ts)).collect();
    assert_eq!(replied.len() as u64, EVENTS - KEYS, "{replied:?}");
}

//! Fresh deliveries are stored leased to the worker of the process that stored them and
//! handed to it without a claim; those that must wait their turn (an ordering key) are
//! claimed as before.

use crate::support::*;
use herald_store::SharedStore;
use herald_store::model::{Delivery, DeliveryQuery, DeliveryStatus};
use std::time::{Duration, Instant};

/// Every pull request to `handed` (no key) and to `keyed` (a `sql` action: one at a time,
/// in order).
const CONFIG: &str = r#"
[secrets]
github = "It's a Secret to Everybody"
app_db = "sqlite://app.db"

[sources.github]
kind = "github"
secrets = ["github"]

[rules.forward]
sources = ["github"]
events = ["pull_request.*"]
actions = ["handed", "keyed"]

[actions.handed]
kind = "http"
url = "{SINK}/handed"
body = '{"type": {{ meta.type }}}'

[actions.keyed]
kind = "sql"
database = "app_db"
schema = "CREATE TABLE IF NOT EXISTS seen (id text PRIMARY KEY)"
statements = [{ sql = "INSERT INTO seen (id) VALUES ($1)", params = ["{{ meta.id }}"] }]

[storage]
path = "herald.db"
"#;

#[tokio::test]
async fn fresh_deliveries_run_without_a_claim_and_keyed_ones_are_claimed() {
    let sink = Sink::start().await;
    let served = ServedApp::start(CONFIG, &sink.url).await;
    let (base, store) = (served.base.clone(), served.store.clone());

    for number in 1..=3 {
        let delivery = format!("handoff-{number}");
        let response = post_github(
            &client(),
            &base,
            ("pull_request", &delivery),
            &pull_request(number),
            GITHUB_SECRET,
        )
        .await;
        assert_eq!(response.status(), 202);
    }
    let started = Instant::now();
    while sink.count() < 3 || !all_succeeded(&store).await {
        assert!(started.elapsed() < Duration::from_secs(10), "not delivered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sink.count(), 3);
    let metrics = client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    served.stop().await;

    let leased = |action: &str, via: &str| {
        let series =
            format!("herald_deliveries_leased_total{{action=\"{action}\",via=\"{via}\"}} ");
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(&series)?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    assert_eq!(leased("handed", "handoff"), 3.0, "{metrics}");
    assert_eq!(leased("handed", "claim"), 0.0, "{metrics}");
    assert_eq!(leased("keyed", "claim"), 3.0, "{metrics}");
    assert_eq!(leased("keyed", "handoff"), 0.0, "{metrics}");
    let deliveries = deliveries(&store).await;
    assert_eq!(deliveries.len(), 6);
    for delivery in &deliveries {
        assert_eq!(delivery.status, DeliveryStatus::Succeeded, "{delivery:?}");
        assert_eq!(delivery.attempts, 1, "{delivery:?}");
        assert_eq!(delivery.lease_until, None, "{delivery:?}");
        if delivery.action == "handed" {
            // Leased once, by its insert, and answered: nothing unknown about it.
            assert!(!delivery.outcome_unknown(), "{delivery:?}");
        }
    }
}

async fn all_succeeded(store: &SharedStore) -> bool {
    let deliveries = deliveries(store).await;
    deliveries.len() == 6
        && deliveries
            .iter()
            .all(|delivery| delivery.status == DeliveryStatus::Succeeded)
}

async fn deliveries(store: &SharedStore) -> Vec<Delivery> {
    let query = DeliveryQuery {
        limit: 10,
        ..Default::default()
    };
    store.list_deliveries(&query).await.unwrap()
}

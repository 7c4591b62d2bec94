//! The same flow on PostgreSQL: ingest, dedup, retry and delivery through the real app.

use crate::support::*;
use herald_store::model::{DeliveryQuery, DeliveryStatus};
use sqlx::{Connection, Executor, PgConnection};
use std::io::Write;

const DEFAULT_URL: &str = "postgres://root@127.0.0.1:5432/test";

/// A fresh database for one test, dropped afterwards; None when PostgreSQL is not
/// reachable outside CI (said loudly), a failure in CI.
pub(crate) struct FreshDatabase {
    admin_url: String,
    name: String,
}

impl FreshDatabase {
    pub(crate) async fn create(test: &str) -> Option<(FreshDatabase, String)> {
        let admin_url =
            std::env::var("HERALD_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_string());
        let mut admin = match PgConnection::connect(&admin_url).await {
            Ok(connection) => connection,
            Err(error) if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("PostgreSQL not reachable at {admin_url} in CI: {error}")
            }
            Err(error) => {
                let notice = format!(
                    "SKIPPED (PostgreSQL not reachable at {admin_url}): {test} ({error})\n"
                );
                let _ = std::io::stderr().write_all(notice.as_bytes());
                return None;
            }
        };
        let name = format!("herald_it_{}", uuid::Uuid::now_v7().simple());
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap();
        let (base, _) = admin_url.rsplit_once('/').unwrap();
        let url = format!("{base}/{name}");
        Some((FreshDatabase { admin_url, name }, url))
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs outside async; a short-lived runtime on its own thread drops the database.
        let _ = std::thread::spawn(move || {
            tokio::runtime::Runtime::new().unwrap().block_on(async {
                if let Ok(mut admin) = PgConnection::connect(&url).await {
                    let _ = admin
                        .execute(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .await;
                }
            })
        })
        .join();
    }
}

#[tokio::test]
async fn ingest_dedup_retry_and_delivery_on_postgres() {
    let Some((_database, url)) =
        FreshDatabase::create("ingest_dedup_retry_and_delivery_on_postgres").await
    else {
        return;
    };
    let config = GITHUB_TO_SINK.replace(
        "[storage]\npath = \"herald.db\"",
        &format!("[storage]\nbackend = \"postgres\"\nurl = \"{url}\""),
    );
    assert!(config.contains("backend = \"postgres\""));
    let sink = Sink::start().await;
    sink.script([answer(502)]);
    let app = spawn_app(&config, &sink.url).await;
    assert_eq!(app.store.backend(), "postgres");

    let body = pull_request(3);
    assert_eq!(
        app.github("pull_request", "pg-1", &body, GITHUB_SECRET)
            .await
            .status(),
        202
    );
    assert_eq!(
        app.github("pull_request", "pg-1", &body, GITHUB_SECRET)
            .await
            .status(),
        200
    );
    assert_eq!(
        app.github("pull_request", "pg-2", &body, "wrong")
            .await
            .status(),
        401
    );
    assert_eq!(app.deliver().await, 1);
    app.advance(1.0);
    assert_eq!(app.deliver().await, 1);
    let deliveries = app
        .store
        .list_deliveries(&DeliveryQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].status, DeliveryStatus::Succeeded);
    assert_eq!(deliveries[0].attempts, 2);
    assert_eq!(sink.count(), 2);
}

/// A GitHub source and a Standard Webhooks source, each forwarding its event's payload,
/// exactly as parsed, to `{SINK}/hook`.
const FORWARD_PAYLOAD: &str = r#"
[server]
admin_secret = "admin"

[secrets]
github = "It's a Secret to Everybody"
svix = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
admin = "admin-token-for-tests"

[sources.github]
kind = "github"
secrets = ["github"]

[sources.billing]
kind = "standard-webhooks"
secrets = ["svix"]

[rules.forward]
sources = ["github", "billing"]
actions = ["sink"]

[actions.sink]
kind = "http"
url = "{SINK}/hook"
body = '{{ event }}'
"#;

/// JSON allows `\u0000`; PostgreSQL's jsonb does not. On either backend herald stores such
/// an event and forwards it byte for byte: the escape as it came, never a raw NUL.
async fn a_payload_holding_nul_is_stored_and_forwarded_byte_for_byte(storage: &str) {
    use standardwebhooks::Webhook;
    let config = FORWARD_PAYLOAD.to_string() + storage;
    let sink = Sink::start().await;
    let app = spawn_app(&config, &sink.url).await;
    // Compact, keys in order: what herald encodes a parsed payload as.
    let github = r#"{"action":"opened","number":5,"title":"a\u0000b"}"#;
    let response = app
        .github("pull_request", "nul-1", github, GITHUB_SECRET)
        .await;
    assert_eq!(response.status(), 202);
    let github_event: serde_json::Value = response.json().await.unwrap();
    let billing = r#"{"data":{"note":"\u0000"},"type":"invoice.paid"}"#;
    let now = herald::clock::Clock::now(app.clock.as_ref()).timestamp();
    let signature = Webhook::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        .unwrap()
        .sign("msg_nul", now, billing.as_bytes())
        .unwrap();
    let response = app
        .http
        .post(app.url("/hooks/billing"))
        .header("content-type", "application/json")
        .header("webhook-id", "msg_nul")
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", signature)
        .body(billing)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let billing_event: serde_json::Value = response.json().await.unwrap();
    assert_eq!(app.deliver_all().await, 2);

    let mut forwarded: Vec<String> = sink.received().into_iter().map(|r| r.body).collect();
    forwarded.sort();
    assert_eq!(forwarded, [github, billing]);
    assert!(forwarded.iter().all(|body| !body.contains('\0')));

    for (event, sent, escaped) in [
        (&github_event, github, r#""title":"a\u0000b""#),
        (&billing_event, billing, r#""note":"\u0000""#),
    ] {
        let id = event["event_id"].as_str().unwrap();
        let stored = app.store.get_event(id.parse().unwrap()).await.unwrap();
        assert_eq!(
            serde_json::to_string(&stored.unwrap().payload).unwrap(),
            sent
        );
        // The API's answer, as text: the escape, not a raw NUL.
        let answer = app
            .http
            .get(app.url(&format!("/api/events/{id}")))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        let text = answer.text().await.unwrap();
        assert!(text.contains(escaped) && !text.contains('\0'), "{text}");
        // `events show`, from another process on the same store.
        let shown = crate::cli::herald(app.dir(), &["events", "show", id]);
        let shown_text = crate::cli::stdout(&shown);
        assert!(shown.status.success(), "{shown:?}");
        let pretty = escaped.replace("\":\"", "\": \"");
        assert!(
            shown_text.contains(&pretty) && !shown_text.contains('\0'),
            "{shown_text}"
        );
        let json = crate::cli::herald(app.dir(), &["events", "show", id, "--json"]);
        let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
        assert_eq!(serde_json::to_string(&json["payload"]).unwrap(), sent);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_payload_holding_nul_is_stored_and_forwarded_byte_for_byte_on_sqlite() {
    a_payload_holding_nul_is_stored_and_forwarded_byte_for_byte(
        "[storage]\npath = \"herald.db\"\n",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_payload_holding_nul_is_stored_and_forwarded_byte_for_byte_on_postgres() {
    let Some((_database, url)) = FreshDatabase::create(
        "a_payload_holding_nul_is_stored_and_forwarded_byte_for_byte_on_postgres",
    )
    .await
    else {
        return;
    };
    a_payload_holding_nul_is_stored_and_forwarded_byte_for_byte(&format!(
        "[storage]\nbackend = \"postgres\"\nurl = \"{url}\"\n"
    ))
    .await;
}

/// A PostgreSQL server that is not there is reported at once, with its address and the
/// cause, once: not as the pool's timeout 30 s later. Needs no PostgreSQL.
#[test]
fn an_unreachable_server_is_named_at_once_with_its_cause() {
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[storage]\nbackend = \"postgres\"\nurl = \"postgres://root@127.0.0.1:{closed_port}/test\"\n"
    );
    std::fs::write(dir.path().join("herald.toml"), config).unwrap();
    for command in [
        &["events", "list"][..],
        &["serve", "--listen", "127.0.0.1:0"][..],
    ] {
        let started = std::time::Instant::now();
        let output = crate::cli::herald(dir.path(), command);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{command:?}: {stderr}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{command:?} took {:?}",
            started.elapsed()
        );
        let cause =
            format!("cannot connect to PostgreSQL at 127.0.0.1:{closed_port}: connection refused");
        assert_eq!(stderr.matches(&cause).count(), 1, "{command:?}: {stderr}");
        assert_eq!(
            stderr.matches("connection refused").count(),
            1,
            "{command:?}: {stderr}"
        );
    }
}

//! The way in: verification, answers, dedup, limits. Nothing is stored for a rejected request.

use crate::support::*;
use herald_store::model::{DeliveryQuery, EventQuery};
use serde_json::{Value, json};

async fn stored_events(app: &TestApp) -> usize {
    app.store
        .list_events(&EventQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn a_signed_delivery_is_stored_and_forwarded_once() {
    let sink = Sink::start().await;
    let app = spawn_app(GITHUB_TO_SINK, &sink.url).await;
    let body = pull_request(7);
    let first = app
        .github("pull_request", "delivery-1", &body, GITHUB_SECRET)
        .await;
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["duplicate"], false);
    assert_eq!(first["deliveries"], 1);
    // GitHub retries a delivery with the same id: answered 200 with the original event.
    let again = app
        .github("pull_request", "delivery-1", &body, GITHUB_SECRET)
        .await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["event_id"], first["event_id"]);
    assert_eq!(again["duplicate"], true);

    assert_eq!(app.deliver().await, 1);
    assert_eq!(app.deliver().await, 0);
    let received = sink.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].path, "/hook");
    assert_eq!(received[0].headers["content-type"], "application/json");
    let forwarded: Value = serde_json::from_str(&received[0].body).unwrap();
    assert_eq!(forwarded["type"], "pull_request.opened");
    assert_eq!(forwarded["delivery"], "delivery-1");
    assert_eq!(
        forwarded["payload"]["pull_request"]["title"],
        "Fix \"quotes\" & <tags>"
    );
    assert_eq!(stored_events(&app).await, 1);
}

#[tokio::test]
async fn bad_or_missing_signatures_get_401_and_store_nothing() {
    let sink = Sink::start().await;
    let app = spawn_app(GITHUB_TO_SINK, &sink.url).await;
    let body = pull_request(1);
    let wrong = app
        .github("pull_request", "d-wrong", &body, "not the secret")
        .await;
    assert_eq!(wrong.status(), 401);
    let message = wrong.text().await.unwrap();
    assert!(message.contains("signature does not match"), "{message}");
    assert!(!message.contains(GITHUB_SECRET) && !message.contains("sha256="));

    let missing = app
        .http
        .post(app.url("/hooks/github"))
        .header("x-github-event", "push")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401);
    assert!(
        missing
            .text()
            .await
            .unwrap()
            .contains("missing X-Hub-Signature-256 header")
    );

    // A valid signature over different bytes does not verify either.
    let tampered = app
        .http
        .post(app.url("/hooks/github"))
        .header("x-github-event", "pull_request")
        .header(
            "x-hub-signature-256",
            github_signature(GITHUB_SECRET, body.as_bytes()),
        )
        .body(body.replace("opened", "closed"))
        .send()
        .await
        .unwrap();
    assert_eq!(tampered.status(), 401);

    assert_eq!(stored_events(&app).await, 0);
    assert_eq!(app.deliver().await, 0);
    assert_eq!(sink.count(), 0);
}

#[tokio::test]
async fn malformed_oversized_and_unknown_requests_are_refused() {
    let sink = Sink::start().await;
    let app = spawn_app(GITHUB_TO_SINK, &sink.url).await;
    let not_json = app.github("push", "d-1", "{not json", GITHUB_SECRET).await;
    assert_eq!(not_json.status(), 400);
    // The source allows 64 KiB.
    let big = json!({"ref": "x".repeat(70 * 1024)}).to_string();
    let too_large = app.github("push", "d-2", &big, GITHUB_SECRET).await;
    assert_eq!(too_large.status(), 413);
    assert!(too_large.text().await.unwrap().contains("65536 bytes"));
    let unknown = app
        .http
        .post(app.url("/hooks/gitlab"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    // Headers are limited too: 40 KiB of them is refused before the source is read.
    let mut request = app.http.post(app.url("/hooks/github")).body("{}");
    for n in 0..10 {
        request = request.header(format!("x-padding-{n}"), "p".repeat(4096));
    }
    let headers_too_large = request.send().await.unwrap();
    assert_eq!(headers_too_large.status(), 431);
    assert!(
        headers_too_large
            .text()
            .await
            .unwrap()
            .contains("exceed the limit of 32768")
    );
    assert_eq!(stored_events(&app).await, 0);
}

#[tokio::test]
async fn github_ping_is_answered_and_not_stored() {
    let sink = Sink::start().await;
    let app = spawn_app(GITHUB_TO_SINK, &sink.url).await;
    let ping = json!({"zen": "Keep it logically awesome.", "hook_id": 42}).to_string();
    let response = app.github("ping", "d-ping", &ping, GITHUB_SECRET).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["hook_id"], 42);
    assert_eq!(stored_events(&app).await, 0);
}

#[tokio::test]
async fn events_that_match_no_rule_are_stored_without_deliveries() {
    let sink = Sink::start().await;
    let app = spawn_app(GITHUB_TO_SINK, &sink.url).await;
    let issue = json!({"action": "opened", "issue": {"number": 3}}).to_string();
    let response = app.github("issues", "d-issue", &issue, GITHUB_SECRET).await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["deliveries"], 0);
    assert_eq!(stored_events(&app).await, 1);
    let deliveries = app
        .store
        .list_deliveries(&DeliveryQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(deliveries.is_empty());
}

const SLACK_AND_STANDARD: &str = r#"
[secrets]
slack = "8f742231b10e8888abcd99yyyzzz85a5"
svix = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
svix_old = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"

[sources.slack]
kind = "slack"
secrets = ["slack"]

[sources.billing]
kind = "standard-webhooks"
secrets = ["svix", "svix_old"]

[rules.all]
sources = ["*"]
actions = ["audit"]

[actions.audit]
kind = "log"
"#;

#[tokio::test]
async fn slack_challenges_are_answered_and_commands_become_json_events() {
    let app = spawn_app(SLACK_AND_STANDARD, "").await;
    let now = app.clock.now_unix();
    let sign = |body: &str| {
        let base = format!("v0:{now}:{body}");
        format!(
            "v0={}",
            hex::encode(hmac_sha256(
                b"8f742231b10e8888abcd99yyyzzz85a5",
                base.as_bytes()
            ))
        )
    };
    let challenge = r#"{"type":"url_verification","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}"#;
    let response = app
        .http
        .post(app.url("/hooks/slack"))
        .header("content-type", "application/json")
        .header("x-slack-request-timestamp", now.to_string())
        .header("x-slack-signature", sign(challenge))
        .body(challenge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["challenge"],
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );

    let command = "token=x&team_id=T1&channel_id=C1&user_id=U1&command=%2Fdeploy&text=api+to+prod&trigger_id=13345224609.738474920.8088930838d88f008e0";
    let response = app
        .http
        .post(app.url("/hooks/slack"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", now.to_string())
        .header("x-slack-signature", sign(command))
        .body(command)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    let id = body["event_id"].as_str().unwrap().parse().unwrap();
    let event = app.store.get_event(id).await.unwrap().unwrap();
    assert_eq!(event.event_type, "slash_command");
    assert_eq!(event.payload["text"], "api to prod");
    assert_eq!(event.payload["command"], "/deploy");
    // The signature is not kept with the event.
    assert!(!event.headers.contains_key("x-slack-signature"));
    assert!(event.headers.contains_key("x-slack-request-timestamp"));

    // Five minutes and one second later the same request is refused.
    app.advance(301.0);
    let stale = app
        .http
        .post(app.url("/hooks/slack"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", now.to_string())
        .header("x-slack-signature", sign(command))
        .body(command)
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 401);
}

#[tokio::test]
async fn standard_webhooks_verify_with_either_secret_during_rotation() {
    use standardwebhooks::Webhook;
    let app = spawn_app(SLACK_AND_STANDARD, "").await;
    let now = app.clock.now_unix();
    let payload = r#"{"type":"invoice.paid","data":{"id":"in_1"}}"#;
    for (secret, id) in [
        ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_1"),
        ("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", "msg_2"),
    ] {
        let signature = Webhook::new(secret)
            .unwrap()
            .sign(id, now, payload.as_bytes())
            .unwrap();
        let response = app
            .http
            .post(app.url("/hooks/billing"))
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", now.to_string())
            .header("webhook-signature", signature)
            .body(payload)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "signed with {id}");
    }
    let events = app
        .store
        .list_events(&EventQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.event_type == "invoice.paid"));
    let unsigned = app
        .http
        .post(app.url("/hooks/billing"))
        .header("webhook-id", "msg_3")
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", "v1,AAAA")
        .body(payload)
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
}

trait UnixNow {
    fn now_unix(&self) -> i64;
}

impl UnixNow for herald::clock::ManualClock {
    fn now_unix(&self) -> i64 {
        herald::clock::Clock::now(self).timestamp()
    }
}

const PACT: &str = r#"
[secrets]
pact = "broker-token"

[sources.pact]
kind = "token"
secrets = ["pact"]
event_type = "event.eventType"
dedup_key = "event.consumerVersionNumber ~ ':' ~ event.pactUrl"

[rules.verify]
sources = ["pact"]
events = ["contract_requiring_verification_published"]
filter = "event.providerName == 'ProductsAPI'"
actions = ["audit"]

[actions.audit]
kind = "log"
message = "verify {{ event.consumerName }}"
"#;

#[tokio::test]
async fn a_token_source_takes_its_type_and_dedup_key_from_the_body() {
    let app = spawn_app(PACT, "").await;
    let payload = json!({
        "eventType": "contract_requiring_verification_published",
        "providerName": "ProductsAPI",
        "consumerName": "Engine",
        "consumerVersionNumber": "c0ffee",
        "pactUrl": "https://broker/pacts/1",
    })
    .to_string();
    let send = |token: &'static str| {
        app.http
            .post(app.url("/hooks/pact"))
            .header("content-type", "application/json")
            .bearer_auth(token)
            .body(payload.clone())
            .send()
    };
    assert_eq!(send("wrong-token").await.unwrap().status(), 401);
    let first: Value = send("broker-token").await.unwrap().json().await.unwrap();
    assert_eq!(first["deliveries"], 1);
    // The broker retries the same event: same dedup key, answered as a duplicate.
    let again: Value = send("broker-token").await.unwrap().json().await.unwrap();
    assert_eq!(again["duplicate"], true);
    let id = first["event_id"].as_str().unwrap().parse().unwrap();
    let event = app.store.get_event(id).await.unwrap().unwrap();
    assert_eq!(
        event.event_type,
        "contract_requiring_verification_published"
    );
    assert_eq!(
        event.dedup_key.as_deref(),
        Some("c0ffee:https://broker/pacts/1")
    );
    assert!(
        !event.headers.contains_key("authorization"),
        "the token is not stored"
    );
    assert_eq!(app.deliver().await, 1);
}

#[tokio::test]
async fn a_slow_sender_is_cut_off_with_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let config = GITHUB_TO_SINK.replace(
        "admin_secret = \"admin\"",
        "admin_secret = \"admin\"\nrequest_timeout = \"300ms\"",
    );
    let app = spawn_app(&config, "http://127.0.0.1:9").await;
    let mut stream = tokio::net::TcpStream::connect(app.address).await.unwrap();
    // Announce 100 bytes and send 10, then stall.
    let head = "POST /hooks/github HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\nx-github-event: push\r\n\r\n{\"ref\": 1,";
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0; 1024];
    let read =
        tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut answer)).await;
    let read = read
        .expect("herald must answer before the sender finishes")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(stored_events(&app).await, 0);
}

use std::time::Duration;

use serde_json::json;

use super::SlackSource;
use crate::ingress::source::VerifyError;
use crate::integrations::test_support::{TestRequest, assert_no_leak, at, secrets};

// Official vector from Slack's "Verifying requests from Slack".
const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const TS: i64 = 1531420618;
const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
const GOOD: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

fn source() -> SlackSource {
    SlackSource::new(secrets(&[SECRET]), Duration::from_secs(300))
}

fn signed(body: &str, timestamp: &str, signature: &str) -> TestRequest {
    TestRequest::new(body)
        .form()
        .header("X-Slack-Request-Timestamp", timestamp)
        .header("X-Slack-Signature", signature)
}

fn vector() -> TestRequest {
    signed(BODY, &TS.to_string(), GOOD)
}

#[test]
fn official_vector_verifies_within_tolerance() {
    for now in [TS + 30, TS - 30, TS + 300, TS - 300] {
        assert_eq!(vector().verify(&source(), at(now)), Ok(()), "now = {now}");
    }
}

#[test]
fn stale_timestamps_are_rejected_both_ways() {
    for now in [TS + 301, TS - 301] {
        assert_eq!(
            vector().verify(&source(), at(now)),
            Err(VerifyError::StaleTimestamp),
            "now = {now}"
        );
    }
}

#[test]
fn rejections() {
    let ts = TS.to_string();
    let flipped = BODY.replacen("foobar", "foobaz", 1);
    let zeros = format!("v0={}", "0".repeat(64));
    let cases: [(&str, TestRequest, VerifyError); 7] = [
        (
            "flipped body byte",
            signed(&flipped, &ts, GOOD),
            VerifyError::SignatureMismatch,
        ),
        (
            "zero signature",
            signed(BODY, &ts, &zeros),
            VerifyError::SignatureMismatch,
        ),
        (
            "missing signature",
            TestRequest::new(BODY).header("X-Slack-Request-Timestamp", &ts),
            VerifyError::MissingHeader("X-Slack-Signature".into()),
        ),
        (
            "missing timestamp",
            TestRequest::new(BODY).header("X-Slack-Signature", GOOD),
            VerifyError::MissingHeader("X-Slack-Request-Timestamp".into()),
        ),
        (
            "non-integer timestamp",
            signed(BODY, "1531420618.5", GOOD),
            VerifyError::MalformedHeader("X-Slack-Request-Timestamp".into()),
        ),
        (
            "no v0= prefix",
            signed(BODY, &ts, &GOOD[3..]),
            VerifyError::MalformedHeader("X-Slack-Signature".into()),
        ),
        // The timestamp is signed: moving it by a second breaks the signature.
        (
            "other timestamp",
            signed(BODY, &(TS + 1).to_string(), GOOD),
            VerifyError::SignatureMismatch,
        ),
    ];
    for (name, request, expected) in cases {
        let error = request.verify(&source(), at(TS + 30)).expect_err(name);
        assert_eq!(error, expected, "{name}");
        assert_no_leak(&error, &[SECRET, &GOOD[3..]]);
    }
}

#[test]
fn rotated_secret_verifies() {
    let rotated = SlackSource::new(secrets(&["previous", SECRET]), Duration::from_secs(300));
    assert_eq!(vector().verify(&rotated, at(TS)), Ok(()));
}

#[test]
fn url_verification_is_answered() {
    let body = r#"{"token":"t","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let reply = TestRequest::new(body).json().reply(&source());
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        json!({"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})
    );
}

#[test]
fn event_callback_is_typed_by_inner_event() {
    let body = json!({
        "type": "event_callback", "event_id": "Ev0PV52K25", "team_id": "T1",
        "event": {"type": "app_mention", "text": "<@U1> deploy", "channel": "C1"}
    });
    let inbound = TestRequest::new(body.to_string()).json().event(&source());
    assert_eq!(inbound.event_type, "app_mention");
    assert_eq!(inbound.dedup_key.as_deref(), Some("Ev0PV52K25"));
    assert_eq!(inbound.payload, body);
}

#[test]
fn other_event_api_types_keep_their_type() {
    let body = r#"{"type":"app_rate_limited","minute_rate_limited":1518467820}"#;
    let inbound = TestRequest::new(body).json().event(&source());
    assert_eq!(inbound.event_type, "app_rate_limited");
    assert_eq!(inbound.dedup_key, None);
}

#[test]
fn slash_command_becomes_an_object_of_fields() {
    let inbound = vector().event(&source());
    assert_eq!(inbound.event_type, "slash_command");
    assert_eq!(
        inbound.dedup_key.as_deref(),
        Some("398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
    );
    assert_eq!(inbound.payload["command"], "/webhook-collect");
    assert_eq!(inbound.payload["text"], "");
    assert_eq!(
        inbound.payload["response_url"],
        "https://hooks.slack.com/commands/T1DC2JH3J/397700885554/96rGlfmibIGlgcZRskXaIFfN"
    );
}

#[test]
fn block_actions_payload_is_decoded() {
    let payload = json!({
        "type": "block_actions", "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        "user": {"id": "U1", "username": "ana"}, "channel": {"id": "C1", "name": "deploys"},
        "container": {"type": "message", "message_ts": "1548261231.000200", "channel_id": "C1"},
        "actions": [{"type": "button", "action_id": "approve", "value": "yes"}]
    });
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish();
    let inbound = TestRequest::new(body).form().event(&source());
    assert_eq!(inbound.event_type, "block_actions");
    assert_eq!(
        inbound.dedup_key.as_deref(),
        Some("13345224609.738474920.8088930838d88f008e0")
    );
    assert_eq!(
        inbound.payload["container"]["message_ts"],
        "1548261231.000200"
    );
    assert_eq!(inbound.payload["channel"]["id"], "C1");
    assert_eq!(inbound.payload["actions"][0]["action_id"], "approve");
}

#[test]
fn malformed_bodies_are_parse_errors() {
    let cases = [
        ("invalid json", TestRequest::new("{").json()),
        ("json without type", TestRequest::new(r#"{"a":1}"#).json()),
        (
            "challenge missing",
            TestRequest::new(r#"{"type":"url_verification"}"#).json(),
        ),
        (
            "callback without event",
            TestRequest::new(r#"{"type":"event_callback"}"#).json(),
        ),
        (
            "payload not json",
            TestRequest::new("payload=%7Bnope").form(),
        ),
        (
            "payload without type",
            TestRequest::new("payload=%7B%7D").form(),
        ),
        ("form without command", TestRequest::new("a=b").form()),
        ("empty", TestRequest::new("").form()),
    ];
    for (name, request) in cases {
        assert!(request.parse(&source()).is_err(), "{name}");
    }
}

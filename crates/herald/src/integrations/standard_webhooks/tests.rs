use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::Utc;
use serde_json::json;
use standardwebhooks::Webhook;

use super::StandardWebhooksSource;
use crate::ingress::source::VerifyError;
use crate::integrations::signature::HmacAlgorithm;
use crate::integrations::test_support::{TestRequest, assert_no_leak, at, secrets};
use crate::secret::Secret;

// The example key from the Standard Webhooks reference libraries.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OTHER: &str = "whsec_c2VwYXJhdGUta2V5LWZvci1yb3RhdGlvbg==";
const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const TS: i64 = 1614265330;
const BODY: &str = r#"{"type":"invoice.paid","data":{"id":"inv_1","amount":1200}}"#;

fn source(values: &[&str]) -> StandardWebhooksSource {
    StandardWebhooksSource::new(secrets(values), Duration::from_secs(300)).expect("valid keys")
}

/// Signed by the reference `standardwebhooks` crate, not by our code.
fn library_signature(secret: &str, id: &str, ts: i64, body: &str) -> String {
    let webhook = Webhook::new(secret).expect("valid secret");
    webhook.sign(id, ts, body.as_bytes()).expect("signs")
}

fn request(id: &str, ts: &str, signature: &str, body: &str) -> TestRequest {
    TestRequest::new(body)
        .json()
        .header("webhook-id", id)
        .header("webhook-timestamp", ts)
        .header("webhook-signature", signature)
}

fn good() -> TestRequest {
    let signature = library_signature(SECRET, ID, TS, BODY);
    request(ID, &TS.to_string(), &signature, BODY)
}

#[test]
fn library_signatures_verify() {
    let bodies = ["", "{}", BODY, "not json at all \u{1F600}"];
    for body in bodies {
        let signature = library_signature(SECRET, ID, TS, body);
        let req = request(ID, &TS.to_string(), &signature, body);
        assert_eq!(req.verify(&source(&[SECRET]), at(TS)), Ok(()), "{body:?}");
    }
}

#[test]
fn key_without_whsec_prefix_is_the_same_key() {
    let bare = SECRET.trim_start_matches("whsec_");
    assert_eq!(good().verify(&source(&[bare]), at(TS)), Ok(()));
}

#[test]
fn any_v1_entry_may_match_and_other_versions_are_ignored() {
    let signature = library_signature(SECRET, ID, TS, BODY);
    let list = format!("v2,Zm9v v1,bm90LXRoaXMtb25l {signature} v1a,xyz garbage");
    let req = request(ID, &TS.to_string(), &list, BODY);
    assert_eq!(req.verify(&source(&[SECRET]), at(TS)), Ok(()));
}

#[test]
fn rotated_secret_verifies() {
    let signature = library_signature(OTHER, ID, TS, BODY);
    let req = request(ID, &TS.to_string(), &signature, BODY);
    assert_eq!(req.verify(&source(&[SECRET, OTHER]), at(TS)), Ok(()));
    assert_eq!(
        req.verify(&source(&[SECRET]), at(TS)),
        Err(VerifyError::SignatureMismatch)
    );
}

#[test]
fn tolerance_applies_both_ways() {
    let cases = [
        (TS + 300, Ok(())),
        (TS - 300, Ok(())),
        (TS + 301, Err(VerifyError::StaleTimestamp)),
        (TS - 301, Err(VerifyError::StaleTimestamp)),
    ];
    for (now, expected) in cases {
        assert_eq!(
            good().verify(&source(&[SECRET]), at(now)),
            expected,
            "now = {now}"
        );
    }
}

#[test]
fn rejections() {
    let signature = library_signature(SECRET, ID, TS, BODY);
    let ts = TS.to_string();
    let v2_only = signature.replacen("v1,", "v2,", 1);
    let cases: [(&str, TestRequest, VerifyError); 8] = [
        (
            "tampered body",
            request(ID, &ts, &signature, &BODY.replace("1200", "1201")),
            VerifyError::SignatureMismatch,
        ),
        (
            "other id",
            request("msg_other", &ts, &signature, BODY),
            VerifyError::SignatureMismatch,
        ),
        (
            "other timestamp",
            request(ID, &(TS + 1).to_string(), &signature, BODY),
            VerifyError::SignatureMismatch,
        ),
        (
            "no v1 entry",
            request(ID, &ts, &v2_only, BODY),
            VerifyError::SignatureMismatch,
        ),
        (
            "non-integer timestamp",
            request(ID, "soon", &signature, BODY),
            VerifyError::MalformedHeader("webhook-timestamp".into()),
        ),
        (
            "missing id",
            good().without("webhook-id"),
            VerifyError::MissingHeader("webhook-id".into()),
        ),
        (
            "missing timestamp",
            good().without("webhook-timestamp"),
            VerifyError::MissingHeader("webhook-timestamp".into()),
        ),
        (
            "missing signature",
            good().without("webhook-signature"),
            VerifyError::MissingHeader("webhook-signature".into()),
        ),
    ];
    let expected_b64 = signature.trim_start_matches("v1,");
    for (name, req, expected) in cases {
        let error = req.verify(&source(&[SECRET]), at(TS)).expect_err(name);
        assert_eq!(error, expected, "{name}");
        assert_no_leak(&error, &[SECRET, expected_b64]);
    }
}

#[test]
fn our_hmac_passes_the_library_verifier() {
    let now = Utc::now().timestamp();
    let key = BASE64
        .decode(SECRET.trim_start_matches("whsec_"))
        .expect("base64");
    let content = format!("{ID}.{now}.{BODY}");
    let tag = HmacAlgorithm::Sha256.mac(&key, &[content.as_bytes()]);
    let req = request(
        ID,
        &now.to_string(),
        &format!("v1,{}", BASE64.encode(tag)),
        BODY,
    );
    let library = Webhook::new(SECRET).expect("valid secret");
    library
        .verify(req.body.as_slice(), &req.headers)
        .expect("library accepts our HMAC");
}

#[test]
fn invalid_secrets_are_named_without_their_value() {
    let build = |value: &str| {
        let named = vec![
            Secret::new("ok", SECRET),
            Secret::new("svix-signing", value),
        ];
        StandardWebhooksSource::new(named, Duration::from_secs(300))
    };
    for value in ["whsec_not base64!", "%%%", "whsec_="] {
        let error = build(value).expect_err(value);
        assert!(error.contains("svix-signing"), "{error}");
        assert!(!error.contains(value), "{error}");
    }
    // A prefix with nothing after it would be an empty HMAC key.
    assert!(build("whsec_").is_err());
}

#[test]
fn debug_does_not_show_keys() {
    let text = format!("{:?}", source(&[SECRET]));
    assert!(
        !text.contains(SECRET.trim_start_matches("whsec_")),
        "{text}"
    );
}

#[test]
fn parse_types_by_payload_and_dedups_on_id() {
    let inbound = good().event(&source(&[SECRET]));
    assert_eq!(inbound.event_type, "invoice.paid");
    assert_eq!(inbound.dedup_key.as_deref(), Some(ID));
    assert_eq!(
        inbound.payload["data"],
        json!({"id": "inv_1", "amount": 1200})
    );

    let untyped = request(ID, "0", "", r#"{"type":7}"#).event(&source(&[SECRET]));
    assert_eq!(untyped.event_type, "webhook");
    assert!(
        request(ID, "0", "", "nope")
            .parse(&source(&[SECRET]))
            .is_err()
    );
}

use serde_json::json;

use super::GithubSource;
use crate::ingress::source::{ParseError, Source, VerifyError};
use crate::integrations::test_support::{TestRequest, assert_no_leak, at, secrets};

const SECRET: &str = "It's a Secret to Everybody";
const BODY: &str = "Hello, World!";
// Official vector from GitHub's docs (also checked with `openssl dgst -sha256 -hmac`).
const GOOD: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
// `openssl dgst -sha1 -hmac "It's a Secret to Everybody"` of the same body.
const LEGACY_SHA1: &str = "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59";

fn source() -> GithubSource {
    GithubSource::new(secrets(&[SECRET]))
}

fn signed(body: &str, signature: &str) -> TestRequest {
    TestRequest::new(body)
        .header("X-Hub-Signature-256", signature)
        .header("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
}

#[test]
fn official_vector_verifies() {
    assert_eq!(signed(BODY, GOOD).verify(&source(), at(0)), Ok(()));
}

#[test]
fn upper_case_hex_and_prefix_verify() {
    let upper = format!("SHA256={}", GOOD["sha256=".len()..].to_ascii_uppercase());
    assert_eq!(signed(BODY, &upper).verify(&source(), at(0)), Ok(()));
}

#[test]
fn rejections() {
    let zeros = format!("sha256={}", "0".repeat(64));
    let cases: [(&str, TestRequest, VerifyError); 6] = [
        (
            "flipped body byte",
            signed("Hello, World?", GOOD),
            VerifyError::SignatureMismatch,
        ),
        (
            "all-zero signature",
            signed(BODY, &zeros),
            VerifyError::SignatureMismatch,
        ),
        (
            "missing header",
            TestRequest::new(BODY),
            VerifyError::MissingHeader("X-Hub-Signature-256".into()),
        ),
        (
            "lone legacy sha1",
            TestRequest::new(BODY).header("X-Hub-Signature", LEGACY_SHA1),
            VerifyError::MissingHeader("X-Hub-Signature-256".into()),
        ),
        (
            "no prefix",
            signed(BODY, &GOOD[7..]),
            VerifyError::MalformedHeader("X-Hub-Signature-256".into()),
        ),
        (
            "not hex",
            signed(BODY, "sha256=xyz"),
            VerifyError::MalformedHeader("X-Hub-Signature-256".into()),
        ),
    ];
    for (name, request, expected) in cases {
        let error = request.verify(&source(), at(0)).expect_err(name);
        assert_eq!(error, expected, "{name}");
        assert_no_leak(&error, &[SECRET, &GOOD[7..]]);
    }
}

#[test]
fn any_configured_secret_may_match() {
    let rotated = GithubSource::new(secrets(&["old-secret", SECRET]));
    assert_eq!(signed(BODY, GOOD).verify(&rotated, at(0)), Ok(()));
    let other = GithubSource::new(secrets(&["old-secret"]));
    assert_eq!(
        signed(BODY, GOOD).verify(&other, at(0)),
        Err(VerifyError::SignatureMismatch)
    );
}

#[test]
fn debug_does_not_show_secrets() {
    assert!(!format!("{:?}", source()).contains(SECRET));
}

fn delivery(event: &str, body: &str) -> TestRequest {
    TestRequest::new(body)
        .json()
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
}

#[test]
fn event_type_includes_action_when_present() {
    let cases = [
        (
            "pull_request",
            r#"{"action":"opened","number":1}"#,
            "pull_request.opened",
        ),
        ("push", r#"{"ref":"refs/heads/main"}"#, "push"),
        ("issues", r#"{"action":{"not":"a string"}}"#, "issues"),
    ];
    for (event, body, expected) in cases {
        let inbound = delivery(event, body).event(&source());
        assert_eq!(inbound.event_type, expected);
        assert_eq!(
            inbound.dedup_key.as_deref(),
            Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
        );
    }
}

#[test]
fn ping_is_answered_not_stored() {
    let body = r#"{"zen":"Design for failure.","hook_id":42,"hook":{}}"#;
    let reply = delivery("ping", body).reply(&source());
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        json!({"ok": true, "zen": "Design for failure.", "hook_id": 42})
    );
}

#[test]
fn form_deliveries_carry_json_in_payload() {
    let body = "payload=%7B%22action%22%3A%22closed%22%2C%22number%22%3A7%7D";
    let request = TestRequest::new(body)
        .form()
        .header("X-GitHub-Event", "pull_request");
    // A sender without delivery ids, allowed by `require_delivery = false`.
    let inbound = request.event(&source().requiring_delivery(false));
    assert_eq!(inbound.event_type, "pull_request.closed");
    assert_eq!(inbound.payload, json!({"action": "closed", "number": 7}));
    assert_eq!(inbound.dedup_key, None);
}

#[test]
fn parse_errors() {
    let cases = [
        ("no event header", TestRequest::new("{}").json()),
        ("invalid json", delivery("push", "{not json")),
        ("form without payload", delivery("push", "a=b").form()),
        ("empty body", delivery("push", "")),
    ];
    for (name, request) in cases {
        let result: Result<_, ParseError> = request.parse(&source());
        assert!(result.is_err(), "{name}: {result:?}");
    }
}

#[test]
fn a_delivery_id_is_required_unless_configured_otherwise() {
    let without = signed(BODY, GOOD).without("X-GitHub-Delivery");
    assert_eq!(
        without.verify(&source(), at(0)),
        Err(VerifyError::MissingHeader("X-GitHub-Delivery".into()))
    );
    let lenient = source().requiring_delivery(false);
    assert_eq!(without.verify(&lenient, at(0)), Ok(()));
}

#[test]
fn credential_headers_name_both_signatures() {
    let names = source().credential_headers();
    assert!(names.iter().any(|name| name == "x-hub-signature-256"));
    assert!(names.iter().any(|name| name == "x-hub-signature"));
}

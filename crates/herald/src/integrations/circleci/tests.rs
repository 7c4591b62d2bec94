use serde_json::json;

use super::CircleciSource;
use crate::ingress::source::VerifyError;
use crate::integrations::test_support::{TestRequest, assert_no_leak, at, secrets};

/// Official vectors from CircleCI's webhook docs: (body, secret, v1 hex).
const VECTORS: [(&str, &str, &str); 4] = [
    (
        "hello world",
        "secret",
        "734cc62f32841568f45715aeb9f4d7891324e6d948e4c6c60c0621cdac48623a",
    ),
    (
        "lalala",
        "another-secret",
        "daa220016c8f29a8b214fbfc3671aeec2145cfb1e6790184ffb38b6d0425fa00",
    ),
    (
        "an-important-request-payload",
        "hunter123",
        "9be2242094a9a8c00c64306f382a7f9d691de910b4a266f67bd314ef18ac49fa",
    ),
    (
        "foo",
        "secret",
        "773ba44693c7553d6ee20f61ea5d2757a9a4f4a44d2841ae4e95b52e4cd62db4",
    ),
];

fn signed(body: &str, header: &str) -> TestRequest {
    TestRequest::new(body)
        .json()
        .header("circleci-signature", header)
}

#[test]
fn official_vectors_verify() {
    for (body, secret, hex) in VECTORS {
        let source = CircleciSource::new(secrets(&[secret]));
        let header = format!("v1={hex}");
        assert_eq!(
            signed(body, &header).verify(&source, at(0)),
            Ok(()),
            "{body}"
        );
    }
}

#[test]
fn only_v1_is_checked() {
    let (body, secret, hex) = VECTORS[0];
    let source = CircleciSource::new(secrets(&[secret]));
    let passing = [
        format!("v1={hex},v2=garbage"),
        format!("v2=garbage, v1={hex}"),
    ];
    for header in passing {
        assert_eq!(
            signed(body, &header).verify(&source, at(0)),
            Ok(()),
            "{header}"
        );
    }
}

#[test]
fn rejections() {
    let (body, secret, hex) = VECTORS[0];
    let source = CircleciSource::new(secrets(&[secret]));
    let zeros = format!("v1={}", "0".repeat(64));
    let good = format!("v1={hex}");
    let cases: [(&str, TestRequest, VerifyError); 7] = [
        (
            "flipped body byte",
            signed("hello worle", &good),
            VerifyError::SignatureMismatch,
        ),
        (
            "zero signature",
            signed(body, &zeros),
            VerifyError::SignatureMismatch,
        ),
        (
            "no v1 entry",
            signed(body, &format!("v2={hex}")),
            VerifyError::SignatureMismatch,
        ),
        (
            "missing header",
            TestRequest::new(body),
            VerifyError::MissingHeader("circleci-signature".into()),
        ),
        (
            "not hex",
            signed(body, "v1=not-a-valid-signature"),
            VerifyError::MalformedHeader("circleci-signature".into()),
        ),
        (
            "bare hex",
            signed(body, hex),
            VerifyError::MalformedHeader("circleci-signature".into()),
        ),
        (
            "signature of another body",
            signed("foo", &good),
            VerifyError::SignatureMismatch,
        ),
    ];
    for (name, request, expected) in cases {
        let error = request.verify(&source, at(0)).expect_err(name);
        assert_eq!(error, expected, "{name}");
        assert_no_leak(&error, &[secret, hex]);
    }
}

#[test]
fn rotated_secret_verifies() {
    let (body, secret, hex) = VECTORS[2];
    let source = CircleciSource::new(secrets(&["retired", secret]));
    assert_eq!(
        signed(body, &format!("v1={hex}")).verify(&source, at(0)),
        Ok(())
    );
}

#[test]
fn payload_type_and_id() {
    let body = json!({
        "id": "3888f21b-eaa7-38e3-8f3d-75a63bba8895", "type": "workflow-completed",
        "workflow": {"name": "build-test-deploy", "status": "failed"},
        "pipeline": {"vcs": {"revision": "1dc6aa69", "branch": "main"}}
    });
    let request = signed(&body.to_string(), "v1=00").header("circleci-event-type", "job-completed");
    let inbound = request.event(&CircleciSource::new(secrets(&["s"])));
    assert_eq!(inbound.event_type, "workflow-completed");
    assert_eq!(
        inbound.dedup_key.as_deref(),
        Some("3888f21b-eaa7-38e3-8f3d-75a63bba8895")
    );
    assert_eq!(inbound.payload, body);
}

#[test]
fn event_type_falls_back_to_header() {
    let source = CircleciSource::new(secrets(&["s"]));
    let request = TestRequest::new(r#"{"id":"x"}"#).header("circleci-event-type", "job-completed");
    assert_eq!(request.event(&source).event_type, "job-completed");
    assert!(TestRequest::new(r#"{"id":"x"}"#).parse(&source).is_err());
    assert!(TestRequest::new("not json").parse(&source).is_err());
}

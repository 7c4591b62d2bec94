use std::time::Duration;

use http::HeaderName;
use serde_json::{Value, json};

use super::{HmacAlgorithm, HmacParams, HmacSource, SignatureEncoding, TimestampParams};
use crate::ingress::source::{Source, VerifyError};
use crate::integrations::test_support::{TestRequest, assert_no_leak, at, secrets};

const SECRET: &str = "generic-secret";
const BODY: &str = r#"{"event":"build.finished","id":42}"#;
const TS: i64 = 1700000000;

/// `printf '%s' "$BODY" | openssl dgst -<algorithm> -hmac generic-secret [-binary | base64]`.
const VECTORS: [(HmacAlgorithm, SignatureEncoding, &str); 6] = [
    (
        HmacAlgorithm::Sha1,
        SignatureEncoding::Hex,
        "cb585637959d044651c83685ef4abd38824f5aa2",
    ),
    (
        HmacAlgorithm::Sha1,
        SignatureEncoding::Base64,
        "y1hWN5WdBEZRyDaF70q9OIJPWqI=",
    ),
    (
        HmacAlgorithm::Sha256,
        SignatureEncoding::Hex,
        "8b1de9f60ca69a32babe10d7a46bdd846fe19c9371b4a9ca00c82181507508ce",
    ),
    (
        HmacAlgorithm::Sha256,
        SignatureEncoding::Base64,
        "ix3p9gymmjK6vhDXpGvdhG/hnJNxtKnKAMghgVB1CM4=",
    ),
    (
        HmacAlgorithm::Sha512,
        SignatureEncoding::Hex,
        "0311ea609379e5d1d826ab3c3614b528e16517df9083c2714cb93c716e5ac54f94ec146fa2be6b65b9290b6432127f1472d7dc91a83f10eb415688ce8e947329",
    ),
    (
        HmacAlgorithm::Sha512,
        SignatureEncoding::Base64,
        "AxHqYJN55dHYJqs8NhS1KOFlF9+Qg8JxTLk8cW5axU+U7BRvor5rZbkpC2QyEn8Uctfckag/EOtBVojOjpRzKQ==",
    ),
];

fn params(algorithm: HmacAlgorithm, encoding: SignatureEncoding, prefix: &str) -> HmacParams {
    HmacParams {
        header: HeaderName::from_static("x-signature"),
        prefix: prefix.to_owned(),
        algorithm,
        encoding,
        timestamp: None,
    }
}

fn source(params: HmacParams) -> HmacSource {
    HmacSource::new(params, secrets(&[SECRET]))
}

fn signed(signature: &str) -> TestRequest {
    TestRequest::new(BODY)
        .json()
        .header("X-Signature", signature)
}

#[test]
fn every_algorithm_and_encoding_with_and_without_prefix() {
    for (algorithm, encoding, value) in VECTORS {
        for prefix in ["", "sha=", "HMAC "] {
            let source = source(params(algorithm, encoding, prefix));
            let request = signed(&format!("{prefix}{value}"));
            assert_eq!(
                request.verify(&source, at(0)),
                Ok(()),
                "{algorithm:?} {encoding:?} {prefix:?}"
            );
            let tampered = TestRequest::new(BODY.replace("42", "43"))
                .header("X-Signature", &format!("{prefix}{value}"));
            assert_eq!(
                tampered.verify(&source, at(0)),
                Err(VerifyError::SignatureMismatch)
            );
        }
    }
}

#[test]
fn hex_is_case_insensitive() {
    let (algorithm, encoding, value) = VECTORS[2];
    let source = source(params(algorithm, encoding, "sha256="));
    let upper = format!("SHA256={}", value.to_ascii_uppercase());
    assert_eq!(signed(&upper).verify(&source, at(0)), Ok(()));
}

#[test]
fn header_rejections() {
    let (algorithm, encoding, value) = VECTORS[2];
    let source = source(params(algorithm, encoding, "sha256="));
    let sha1_value = VECTORS[0].2;
    let cases: [(&str, TestRequest, VerifyError); 5] = [
        (
            "missing header",
            TestRequest::new(BODY),
            VerifyError::MissingHeader("x-signature".into()),
        ),
        (
            "prefix absent",
            signed(value),
            VerifyError::MalformedHeader("x-signature".into()),
        ),
        (
            "not hex",
            signed("sha256=zz"),
            VerifyError::MalformedHeader("x-signature".into()),
        ),
        (
            "wrong algorithm",
            signed(&format!("sha256={sha1_value}")),
            VerifyError::SignatureMismatch,
        ),
        (
            "base64 where hex expected",
            signed(&format!("sha256={}", VECTORS[3].2)),
            VerifyError::MalformedHeader("x-signature".into()),
        ),
    ];
    for (name, request, expected) in cases {
        let error = request.verify(&source, at(0)).expect_err(name);
        assert_eq!(error, expected, "{name}");
        assert_no_leak(&error, &[SECRET, value]);
    }
}

#[test]
fn rotated_secret_verifies() {
    let (algorithm, encoding, value) = VECTORS[1];
    let rotated = HmacSource::new(params(algorithm, encoding, ""), secrets(&["next", SECRET]));
    assert_eq!(signed(value).verify(&rotated, at(0)), Ok(()));
}

fn timestamped_params(
    template: &str,
    algorithm: HmacAlgorithm,
    encoding: SignatureEncoding,
) -> HmacParams {
    let mut params = params(algorithm, encoding, "");
    params.timestamp = Some(TimestampParams {
        header: HeaderName::from_static("x-timestamp"),
        tolerance: Duration::from_secs(300),
        signed_payload: template.to_owned(),
    });
    params
}

fn timestamped(
    template: &str,
    algorithm: HmacAlgorithm,
    encoding: SignatureEncoding,
) -> HmacSource {
    source(timestamped_params(template, algorithm, encoding))
}

// `printf '%s' "1700000000.$BODY" | openssl dgst -sha256 -hmac generic-secret`
const TS_DOT_BODY: &str = "7494bdd8ffc68f3ea862395f61f5a9673399fa38cec4edda5c38c354905781de";
// `printf '%s' "t=1700000000&b=$BODY!" | openssl dgst -sha512 -hmac generic-secret -binary | base64`
const CUSTOM_TEMPLATE: &str =
    "Jc+rspNo1phCDbIFL3MvmEfX9+umEk9mES7TrzxwSo69jzkb65olEwieClaeqzNImrkKbilQ0q8I8c99j3Joig==";

#[test]
fn timestamp_templates() {
    let dot = timestamped(
        "{timestamp}.{body}",
        HmacAlgorithm::Sha256,
        SignatureEncoding::Hex,
    );
    let custom = timestamped(
        "t={timestamp}&b={body}!",
        HmacAlgorithm::Sha512,
        SignatureEncoding::Base64,
    );
    for (source, signature) in [(&dot, TS_DOT_BODY), (&custom, CUSTOM_TEMPLATE)] {
        let request = signed(signature).header("X-Timestamp", &TS.to_string());
        assert_eq!(request.verify(source, at(TS + 300)), Ok(()));
        assert_eq!(request.verify(source, at(TS - 300)), Ok(()));
        assert_eq!(
            request.verify(source, at(TS + 301)),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(
            request.verify(source, at(TS - 301)),
            Err(VerifyError::StaleTimestamp)
        );
        let moved = signed(signature).header("X-Timestamp", &(TS + 1).to_string());
        assert_eq!(
            moved.verify(source, at(TS)),
            Err(VerifyError::SignatureMismatch)
        );
    }
}

#[test]
fn timestamp_header_errors() {
    let source = timestamped(
        "{timestamp}.{body}",
        HmacAlgorithm::Sha256,
        SignatureEncoding::Hex,
    );
    assert_eq!(
        signed(TS_DOT_BODY).verify(&source, at(TS)),
        Err(VerifyError::MissingHeader("x-timestamp".into()))
    );
    let request = signed(TS_DOT_BODY).header("X-Timestamp", "yesterday");
    assert_eq!(
        request.verify(&source, at(TS)),
        Err(VerifyError::MalformedHeader("x-timestamp".into()))
    );
}

#[test]
fn templates_must_sign_body_and_timestamp() {
    for template in ["{timestamp}", "{body}", "{body}.{body}.{timestamp}", ""] {
        let params = timestamped_params(template, HmacAlgorithm::Sha256, SignatureEncoding::Hex);
        assert!(params.validate().is_err(), "{template:?}");
        let source = HmacSource::new(params, secrets(&[SECRET]));
        // Built anyway, the source fails closed.
        let request = signed(TS_DOT_BODY).header("X-Timestamp", &TS.to_string());
        assert_eq!(
            request.verify(&source, at(TS)),
            Err(VerifyError::SignatureMismatch)
        );
    }
    assert_eq!(
        params(HmacAlgorithm::Sha1, SignatureEncoding::Hex, "").validate(),
        Ok(())
    );
    let good = timestamped_params(
        "{timestamp}.{body}",
        HmacAlgorithm::Sha1,
        SignatureEncoding::Hex,
    );
    assert_eq!(good.validate(), Ok(()));
}

#[test]
fn config_enums_deserialize_lowercase() {
    let algorithm: HmacAlgorithm = serde_json::from_value(json!("sha512")).expect("sha512");
    let encoding: SignatureEncoding = serde_json::from_value(json!("base64")).expect("base64");
    assert_eq!(
        (algorithm, encoding),
        (HmacAlgorithm::Sha512, SignatureEncoding::Base64)
    );
    assert!(serde_json::from_value::<HmacAlgorithm>(json!("SHA256")).is_err());
}

#[test]
fn parse_json_form_and_empty_bodies() {
    let source = source(params(HmacAlgorithm::Sha256, SignatureEncoding::Hex, ""));
    let cases = [
        (
            TestRequest::new(BODY).json(),
            json!({"event": "build.finished", "id": 42}),
        ),
        (
            TestRequest::new(BODY),
            json!({"event": "build.finished", "id": 42}),
        ),
        (
            TestRequest::new("a=1&b=two+words&a=3").form(),
            json!({"a": "3", "b": "two words"}),
        ),
        (TestRequest::new(""), Value::Null),
    ];
    for (request, payload) in cases {
        let inbound = request.event(&source);
        assert_eq!(inbound.event_type, "webhook");
        assert_eq!(inbound.dedup_key, None);
        assert_eq!(inbound.payload, payload);
    }
    assert!(TestRequest::new("a=1").json().parse(&source).is_err());
}

#[test]
fn credential_headers_include_signature_and_timestamp() {
    let source = timestamped(
        "{timestamp}.{body}",
        HmacAlgorithm::Sha256,
        SignatureEncoding::Hex,
    );
    assert_eq!(
        source.credential_headers(),
        vec![
            HeaderName::from_static("x-signature"),
            HeaderName::from_static("x-timestamp")
        ]
    );
}

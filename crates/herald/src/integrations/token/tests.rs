use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::HeaderName;
use http::header::AUTHORIZATION;
use serde_json::json;

use super::{TokenParams, TokenSource};
use crate::ingress::source::{Source, VerifyError};
use crate::integrations::test_support::{TestRequest, assert_no_leak, at, secrets};

const TOKEN: &str = "pact-2f6c1d9e";
const NEXT: &str = "pact-rotated-77";

fn bearer() -> TokenSource {
    let params = TokenParams::Header {
        header: AUTHORIZATION,
        prefix: "Bearer ".to_owned(),
    };
    TokenSource::new(params, secrets(&[TOKEN, NEXT]))
}

fn custom_header() -> TokenSource {
    let params = TokenParams::Header {
        header: HeaderName::from_static("x-pact-token"),
        prefix: String::new(),
    };
    TokenSource::new(params, secrets(&[TOKEN]))
}

fn basic(username: Option<&str>) -> TokenSource {
    let params = TokenParams::Basic {
        username: username.map(str::to_owned),
    };
    TokenSource::new(params, secrets(&[TOKEN, NEXT]))
}

fn with(name: &str, value: &str) -> TestRequest {
    TestRequest::new("{}").json().header(name, value)
}

fn basic_auth(user: &str, password: &str) -> TestRequest {
    let encoded = BASE64.encode(format!("{user}:{password}"));
    auth(&format!("Basic {encoded}"))
}

fn auth(value: &str) -> TestRequest {
    with("Authorization", value)
}

type Case = (
    &'static str,
    TokenSource,
    TestRequest,
    Result<(), VerifyError>,
);

fn check(cases: Vec<Case>) {
    for (name, source, request, expected) in cases {
        let result = request.verify(&source, at(0));
        assert_eq!(result, expected, "{name}");
        if let Err(error) = result {
            assert_no_leak(&error, &[TOKEN, NEXT, "broker"]);
        }
    }
}

#[test]
fn header_mode_accepts() {
    check(vec![
        ("bearer", bearer(), auth(&format!("Bearer {TOKEN}")), Ok(())),
        (
            "lower-case scheme",
            bearer(),
            auth(&format!("bearer {TOKEN}")),
            Ok(()),
        ),
        ("rotated", bearer(), auth(&format!("Bearer {NEXT}")), Ok(())),
        (
            "custom header",
            custom_header(),
            with("X-Pact-Token", TOKEN),
            Ok(()),
        ),
    ]);
}

#[test]
fn header_mode_rejects() {
    let mismatch = Err(VerifyError::CredentialMismatch);
    check(vec![
        (
            "wrong token",
            bearer(),
            auth("Bearer pact-2f6c1d9f"),
            mismatch.clone(),
        ),
        (
            "token prefix only",
            bearer(),
            auth("Bearer pact-2f6c"),
            mismatch.clone(),
        ),
        ("missing scheme", bearer(), auth(TOKEN), mismatch),
        (
            "missing",
            bearer(),
            TestRequest::new("{}"),
            Err(VerifyError::MissingHeader("authorization".into())),
        ),
        (
            "custom missing",
            custom_header(),
            auth(TOKEN),
            Err(VerifyError::MissingHeader("x-pact-token".into())),
        ),
    ]);
}

#[test]
fn basic_mode_accepts() {
    let colon_secret = TokenSource::new(TokenParams::Basic { username: None }, secrets(&["a:b"]));
    check(vec![
        ("any user", basic(None), basic_auth("broker", TOKEN), Ok(())),
        (
            "configured user",
            basic(Some("broker")),
            basic_auth("broker", TOKEN),
            Ok(()),
        ),
        (
            "rotated password",
            basic(Some("broker")),
            basic_auth("broker", NEXT),
            Ok(()),
        ),
        (
            "colon in password",
            colon_secret,
            basic_auth("u", "a:b"),
            Ok(()),
        ),
    ]);
}

#[test]
fn basic_mode_rejects() {
    let mismatch = Err(VerifyError::CredentialMismatch);
    let malformed = Err(VerifyError::MalformedHeader("Authorization".into()));
    let no_colon = auth(&format!("Basic {}", BASE64.encode(TOKEN)));
    check(vec![
        (
            "wrong user",
            basic(Some("broker")),
            basic_auth("intruder", TOKEN),
            mismatch.clone(),
        ),
        (
            "wrong password",
            basic(Some("broker")),
            basic_auth("broker", "guess"),
            mismatch,
        ),
        (
            "bearer instead",
            basic(None),
            auth(&format!("Bearer {TOKEN}")),
            malformed.clone(),
        ),
        (
            "not base64",
            basic(None),
            auth("Basic !!!"),
            malformed.clone(),
        ),
        ("no colon", basic(None), no_colon, malformed),
        (
            "missing",
            basic(None),
            TestRequest::new("{}"),
            Err(VerifyError::MissingHeader("Authorization".into())),
        ),
    ]);
}

#[test]
fn credential_headers_name_the_header_used() {
    assert_eq!(
        custom_header().credential_headers(),
        vec![HeaderName::from_static("x-pact-token")]
    );
    assert_eq!(basic(None).credential_headers(), vec![AUTHORIZATION]);
}

#[test]
fn debug_does_not_show_secrets() {
    for source in [bearer(), basic(Some("broker"))] {
        let text = format!("{source:?}");
        assert!(!text.contains(TOKEN) && !text.contains(NEXT), "{text}");
    }
}

#[test]
fn parse_like_generic_hmac() {
    let body = r#"{"eventName":"contract_requiring_verification_published","pactUrl":"https://broker/pacts/1"}"#;
    let inbound = TestRequest::new(body).json().event(&bearer());
    assert_eq!(inbound.event_type, "webhook");
    assert_eq!(inbound.dedup_key, None);
    assert_eq!(inbound.payload["pactUrl"], json!("https://broker/pacts/1"));
}

#[test]
fn query_params_become_event_fields_when_asked() {
    let query = "eventType=provider_verification_published&consumerVersionBranch=feat%2Fsay-%22hello%22%26more";
    let mut request = TestRequest::new("");
    request.query = query.to_string();
    // Off by default: the query is ignored and an empty body is no payload.
    assert_eq!(request.event(&bearer()).payload, json!(null));
    let source = bearer().with_query_params(true);
    let inbound = request.event(&source);
    assert_eq!(
        inbound.payload["eventType"],
        "provider_verification_published"
    );
    assert_eq!(
        inbound.payload["consumerVersionBranch"],
        "feat/say-\"hello\"&more"
    );
    // Over a JSON body's fields.
    let mut request = TestRequest::new(r#"{"eventType": "old", "kept": 1}"#).json();
    request.query = "eventType=new".into();
    let inbound = request.event(&source);
    assert_eq!(inbound.payload, json!({"eventType": "new", "kept": 1}));
    let mut request = TestRequest::new("[1]").json();
    request.query = "a=b".into();
    assert!(request.parse(&source).is_err());
}

//! Registering through the admin API (U1–U4), what it refuses, and what a registry needs in
//! the configuration.

use super::*;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn register_answers_a_secret_once_and_a_taken_id_is_409() {
    let sink = Sink::start().await;
    let app = spawn_app(REGISTRY, &sink.url).await;
    let body = json!({ "source": "repos", "repo": REPO });
    let unauthorized = app
        .http
        .post(app.url("/api/hooks"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), 401);

    // U1: 201 with a fresh 64-hex secret, the id from the repository's name, the URL.
    let response = register(&app, body.clone()).await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(is_secret(&secret), "{created}");
    assert_eq!(created["id"], "webhook-test-repo");
    assert_eq!(created["source"], "repos");
    assert_eq!(created["repository"], REPO);
    // No server.public_url here: the path alone.
    assert_eq!(created["url"], "/hooks/repos/webhook-test-repo");

    // U2: the same again is a conflict naming the id; the secret is unchanged.
    let again = register(&app, body).await;
    assert_eq!(again.status(), 409);
    let error = again.text().await.unwrap();
    assert!(
        error.contains("`id`") && error.contains("webhook-test-repo"),
        "{error}"
    );
    assert!(!error.contains(&secret));
    assert_eq!(
        release_to(&app, "webhook-test-repo", "r-1", &secret).await,
        202
    );

    // Another id for the same repository is another hook, with another secret.
    let other = register(
        &app,
        json!({ "source": "repos", "repo": REPO, "id": "mirror" }),
    )
    .await;
    assert_eq!(other.status(), 201);
    let other: Value = other.json().await.unwrap();
    assert_eq!(other["id"], "mirror");
    assert_ne!(other["secret"].as_str().unwrap(), secret);
}

#[tokio::test]
async fn the_url_is_absolute_with_a_public_url() {
    let config = REGISTRY.replace(
        "admin_secret = \"admin\"",
        "admin_secret = \"admin\"\npublic_url = \"https://herald.example.com/\"",
    );
    let sink = Sink::start().await;
    let app = spawn_app(&config, &sink.url).await;
    let response = register(&app, json!({ "source": "repos", "repo": REPO })).await;
    let created: Value = response.json().await.unwrap();
    assert_eq!(
        created["url"],
        "https://herald.example.com/hooks/repos/webhook-test-repo"
    );
}

#[tokio::test]
async fn bad_input_is_400_naming_the_field_and_creates_nothing() {
    let sink = Sink::start().await;
    let app = spawn_app(REGISTRY, &sink.url).await;
    // U3 and herald's own checks: (body, what the message must name).
    let cases = [
        (r#"{"source": "repos"}"#, "`repo`"),
        (r#"{"repo": "a/b"}"#, "`source`"),
        ("not json", "invalid request body"),
        (
            r#"{"source": "repos", "repo": ""}"#,
            "`repo`: must not be empty",
        ),
        (
            r#"{"source": "", "repo": "a/b"}"#,
            "`source`: must not be empty",
        ),
        (
            r#"{"source": "repos", "repo": "webhook-test-repo"}"#,
            "`repo`",
        ),
        (r#"{"source": "repos", "repo": "a/b/c"}"#, "owner/name"),
        (r#"{"source": "repos", "repo": "a/b", "id": "x/y"}"#, "`id`"),
        (
            r#"{"source": "repos", "repo": "a/b", "id": ""}"#,
            "`id`: must not be empty",
        ),
        (r#"{"source": "nope", "repo": "a/b"}"#, "no source `nope`"),
        (r#"{"source": "plain", "repo": "a/b"}"#, "not a registry"),
        (r#"{"source": "repos", "repo": 7}"#, "invalid request body"),
        (
            r#"{"source": "repos", "repo": "a/b", "extra": 1}"#,
            "`extra`",
        ),
    ];
    for (body, named) in cases {
        let response = api(&app, Method::POST, "/api/hooks", Some(body)).await;
        assert_eq!(response.status(), 400, "{body}");
        let text = response.text().await.unwrap();
        assert!(text.contains(named), "{body}: {text}");
    }
    let listed: Value = api(&app, Method::GET, "/api/hooks", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed, json!([]));
}

#[tokio::test]
async fn list_and_show_never_show_a_secret() {
    let sink = Sink::start().await;
    let app = spawn_app(REGISTRY, &sink.url).await;
    let first = registered(&app, REPO).await;
    let second = registered(&app, "acme/api").await;

    // U4: find and list, without secrets.
    let list = api(&app, Method::GET, "/api/hooks", None).await;
    assert_eq!(list.status(), 200);
    let text = list.text().await.unwrap();
    let listed: Value = serde_json::from_str(&text).unwrap();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|hook| hook["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["api", "webhook-test-repo"]);
    let filtered = api(&app, Method::GET, "/api/hooks?source=repos", None).await;
    let filtered_text = filtered.text().await.unwrap();
    let show = api(
        &app,
        Method::GET,
        "/api/hooks/repos/webhook-test-repo",
        None,
    )
    .await;
    assert_eq!(show.status(), 200);
    let show_text = show.text().await.unwrap();
    let shown: Value = serde_json::from_str(&show_text).unwrap();
    assert_eq!(shown["repository"], REPO);
    assert_eq!(shown["url"], "/hooks/repos/webhook-test-repo");
    assert!(shown.get("previous_secret_valid_until").is_none());
    for output in [&text, &filtered_text, &show_text] {
        assert!(!output.contains("secret\""), "{output}");
        assert!(
            !output.contains(&first) && !output.contains(&second),
            "{output}"
        );
    }

    let missing = api(&app, Method::GET, "/api/hooks/repos/nope", None).await;
    assert_eq!(missing.status(), 404);
    assert!(missing.text().await.unwrap().contains("nope"));
    let not_registry = api(&app, Method::GET, "/api/hooks?source=plain", None).await;
    assert_eq!(not_registry.status(), 400);
    assert!(not_registry.text().await.unwrap().contains("`source`"));
}

#[test]
fn a_registry_needs_the_hooks_key_and_no_secrets_of_its_own() {
    let load = |text: &str| {
        herald::config::from_text(
            std::path::Path::new("herald.toml"),
            text,
            std::sync::Arc::new(|_| None),
            &herald::integrations::catalog(),
        )
        .map(|_| ())
        .map_err(|report| report.short())
    };
    let base = REGISTRY.replace("{SINK}", "http://127.0.0.1:9");
    load(&base).unwrap();
    let cases = [
        (
            base.replace("key = \"hooks_key\"", ""),
            "needs `[hooks] key`",
        ),
        (
            base.replace(HOOKS_KEY, "not-a-key"),
            "secret `hooks_key` is not a key of 32 bytes",
        ),
        (
            base.replace("key = \"hooks_key\"", "key = \"missing\""),
            "undefined secret `missing`",
        ),
        (
            base.replace("registry = true", "registry = true\nsecrets = [\"plain\"]"),
            "a registry source has no `secrets`",
        ),
        (
            base.replace(
                "[sources.plain]\nkind = \"github\"\nsecrets = [\"plain\"]",
                "[sources.plain]\nkind = \"slack\"\nregistry = true",
            ),
            "a `slack` source cannot be a registry",
        ),
        (
            base.replace("secrets = [\"plain\"]", ""),
            "missing `secrets`",
        ),
        (
            base.replace(
                "admin_secret = \"admin\"",
                "admin_secret = \"admin\"\npublic_url = \"herald.example.com\"",
            ),
            "`public_url` must be an http(s) address",
        ),
    ];
    for (text, expected) in cases {
        let errors = load(&text).unwrap_err();
        assert!(errors.contains(expected), "{expected}:\n{errors}");
    }
}

//! Registered hooks (issue 13, item 1): unotify's scenarios U1–U6 with herald's answers,
//! rotation with its grace period, import, delete, the CLI, and PostgreSQL.

use crate::cli::{herald, stdout};
use crate::support::*;
use reqwest::Method;
use serde_json::{Value, json};

/// The key hook secrets are sealed with in these tests (32 bytes, hex).
const HOOKS_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// A GitHub registry `repos`, a plain GitHub source, and a rule that forwards the releases
/// of one repository's hook with what `meta.hook` says.
const REGISTRY: &str = r#"
[server]
admin_secret = "admin"

[secrets]
admin = "admin-token-for-tests"
hooks_key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
plain = "It's a Secret to Everybody"

[hooks]
key = "hooks_key"

[sources.repos]
kind = "github"
registry = true

[sources.plain]
kind = "github"
secrets = ["plain"]

[rules.releases]
sources = ["repos"]
events = ["release.published"]
filter = "meta.hook.repository == 'go-batteries/webhook-test-repo'"
actions = ["sink"]

[actions.sink]
kind = "http"
url = "{SINK}/release"
body = '{"hook": {{ meta.hook.id }}, "repository": {{ meta.hook.repository }}, "tag": {{ event.release.tag_name }}}'

[storage]
path = "herald.db"
"#;

/// U5's release.
const RELEASE: &str = r#"{"action":"published","release":{"tag_name":"v1.0.1","body":"* SOC-1 login\n* DEVHOP-7 infra"},"repository":{"full_name":"go-batteries/webhook-test-repo","commits_url":"https://api.github.com/repos/go-batteries/webhook-test-repo/commits{/sha}"}}"#;

const REPO: &str = "go-batteries/webhook-test-repo";

async fn api(app: &TestApp, method: Method, path: &str, body: Option<&str>) -> reqwest::Response {
    let mut request = app
        .http
        .request(method, app.url(path))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    request.send().await.unwrap()
}

async fn register(app: &TestApp, body: Value) -> reqwest::Response {
    api(app, Method::POST, "/api/hooks", Some(&body.to_string())).await
}

/// Register `repo` under `repos` and return its secret.
async fn registered(app: &TestApp, repo: &str) -> String {
    let response = register(app, json!({ "source": "repos", "repo": repo })).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["secret"].as_str().unwrap().to_string()
}

/// POST a GitHub delivery to the registered hook `id`, signed with `secret`.
async fn deliver_to(
    app: &TestApp,
    path: &str,
    (event, delivery): (&str, &str),
    body: &str,
    secret: &str,
) -> reqwest::Response {
    app.http
        .post(app.url(path))
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery)
        .header(
            "x-hub-signature-256",
            github_signature(secret, body.as_bytes()),
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

async fn release_to(app: &TestApp, id: &str, delivery: &str, secret: &str) -> u16 {
    let path = format!("/hooks/repos/{id}");
    let response = deliver_to(app, &path, ("release", delivery), RELEASE, secret).await;
    response.status().as_u16()
}

async fn event_count(app: &TestApp) -> usize {
    let query = herald_store::model::EventQuery {
        limit: 1000,
        ..Default::default()
    };
    app.store.list_events(&query).await.unwrap().len()
}

fn is_secret(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

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

#[tokio::test]
async fn a_release_signed_with_the_hooks_secret_is_stored_with_its_hook() {
    let sink = Sink::start().await;
    let app = spawn_app(REGISTRY, &sink.url).await;
    let secret = registered(&app, REPO).await;

    // U5: accepted, stored as an event of the registry with meta.hook, routed by it.
    let response = deliver_to(
        &app,
        "/hooks/repos/webhook-test-repo",
        ("release", "rel-1"),
        RELEASE,
        &secret,
    )
    .await;
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    assert_eq!(accepted["deliveries"], 1);
    let id = accepted["event_id"].as_str().unwrap();
    let event: Value = api(&app, Method::GET, &format!("/api/events/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(event["source"], "repos");
    assert_eq!(event["event_type"], "release.published");
    assert_eq!(
        event["hook"],
        json!({ "id": "webhook-test-repo", "repository": REPO })
    );
    assert!(event["headers"].get("x-hub-signature-256").is_none());

    assert_eq!(app.deliver().await, 1);
    let received = sink.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].path, "/release");
    let sent: Value = serde_json::from_str(&received[0].body).unwrap();
    assert_eq!(
        sent,
        json!({ "hook": "webhook-test-repo", "repository": REPO, "tag": "v1.0.1" })
    );

    // The same delivery again is a duplicate; another repository's hook does not match
    // the rule's filter on meta.hook.
    assert_eq!(
        release_to(&app, "webhook-test-repo", "rel-1", &secret).await,
        200
    );
    let other = registered(&app, "acme/api").await;
    assert_eq!(release_to(&app, "api", "rel-2", &other).await, 202);
    assert_eq!(app.deliver().await, 0);
    assert_eq!(event_count(&app).await, 2);
}

#[tokio::test]
async fn deliveries_that_do_not_verify_or_have_no_hook_store_nothing() {
    let sink = Sink::start().await;
    let app = spawn_app(REGISTRY, &sink.url).await;
    let secret = registered(&app, REPO).await;
    let other = registered(&app, "acme/api").await;
    let path = "/hooks/repos/webhook-test-repo";

    // Another hook's secret, a wrong key, no signature: 401.
    assert_eq!(
        release_to(&app, "webhook-test-repo", "x-1", &other).await,
        401
    );
    assert_eq!(
        release_to(&app, "webhook-test-repo", "x-2", "wrong").await,
        401
    );
    let unsigned = app
        .http
        .post(app.url(path))
        .header("x-github-event", "release")
        .header("x-github-delivery", "x-3")
        .body(RELEASE)
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    // An unknown hook, an unknown source, a plain source with an id, a registry without
    // one: 404.
    assert_eq!(release_to(&app, "other", "x-4", &secret).await, 404);
    for path in [
        "/hooks/gitlab/webhook-test-repo",
        "/hooks/plain/webhook-test-repo",
        "/hooks/repos",
    ] {
        let response = deliver_to(&app, path, ("release", "x-5"), RELEASE, &secret).await;
        assert_eq!(response.status(), 404, "{path}");
    }
    // Correctly signed, but not JSON: 400.
    let malformed = deliver_to(&app, path, ("release", "x-6"), "{", &secret).await;
    assert_eq!(malformed.status(), 400);

    assert_eq!(event_count(&app).await, 0);
    assert!(app.deliveries().await.is_empty());
}

#[tokio::test]
async fn after_rotation_the_old_secret_is_accepted_until_the_grace_ends() {
    let sink = Sink::start().await;
    let app = spawn_app(REGISTRY, &sink.url).await;
    let old = registered(&app, REPO).await;
    let rotate = "/api/hooks/repos/webhook-test-repo/rotate";

    let response = api(&app, Method::POST, rotate, Some(r#"{"grace": "1h"}"#)).await;
    assert_eq!(response.status(), 200);
    let rotated: Value = response.json().await.unwrap();
    let new = rotated["secret"].as_str().unwrap().to_string();
    assert!(is_secret(&new) && new != old);
    let until = rotated["previous_secret_valid_until"].as_str().unwrap();
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(until).unwrap(),
        app.clock_now() + chrono::Duration::hours(1)
    );

    assert_eq!(
        release_to(&app, "webhook-test-repo", "g-1", &old).await,
        202
    );
    assert_eq!(
        release_to(&app, "webhook-test-repo", "g-2", &new).await,
        202
    );
    app.advance(3599.0);
    assert_eq!(
        release_to(&app, "webhook-test-repo", "g-3", &old).await,
        202
    );
    app.advance(1.0);
    assert_eq!(
        release_to(&app, "webhook-test-repo", "g-4", &old).await,
        401
    );
    assert_eq!(
        release_to(&app, "webhook-test-repo", "g-5", &new).await,
        202
    );
    let shown: Value = api(
        &app,
        Method::GET,
        "/api/hooks/repos/webhook-test-repo",
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(
        shown.get("previous_secret_valid_until").is_none(),
        "{shown}"
    );

    // Without a body the grace is 24 hours; a bad grace or hook is refused.
    let response = api(&app, Method::POST, rotate, None).await;
    let newest = response.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    app.advance(24.0 * 3600.0 - 1.0);
    assert_eq!(
        release_to(&app, "webhook-test-repo", "g-6", &new).await,
        202
    );
    app.advance(1.0);
    assert_eq!(
        release_to(&app, "webhook-test-repo", "g-7", &new).await,
        401
    );
    assert_eq!(
        release_to(&app, "webhook-test-repo", "g-8", &newest).await,
        202
    );
    let bad = api(&app, Method::POST, rotate, Some(r#"{"grace": "soon"}"#)).await;
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("`grace`"));
    let long = api(&app, Method::POST, rotate, Some(r#"{"grace": "90d"}"#)).await;
    assert_eq!(long.status(), 400);
    let missing = api(&app, Method::POST, "/api/hooks/repos/nope/rotate", None).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(
        release_to(&app, "webhook-test-repo", "g-9", &newest).await,
        202
    );
}

#[tokio::test]
async fn import_keeps_the_given_secret_and_delete_removes_the_hook() {
    let sink = Sink::start().await;
    let app = spawn_app(REGISTRY, &sink.url).await;
    let path = "/api/hooks/repos/webhook-test-repo";
    // A secret unotify made, kept so GitHub's settings need not change.
    let unotify = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    let body = json!({ "repo": REPO, "secret": unotify }).to_string();
    let response = api(&app, Method::PUT, path, Some(&body)).await;
    assert_eq!(response.status(), 201);
    let text = response.text().await.unwrap();
    assert!(!text.contains(unotify), "{text}");
    let imported: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(imported["id"], "webhook-test-repo");
    assert_eq!(
        release_to(&app, "webhook-test-repo", "i-1", unotify).await,
        202
    );

    // U5's check value: GitHub's documented signature verifies (then `Hello, World!` is no
    // JSON: 400, where a wrong signature is 401).
    let documented = json!({ "repo": "acme/doc", "secret": GITHUB_SECRET }).to_string();
    assert_eq!(
        api(&app, Method::PUT, "/api/hooks/repos/doc", Some(&documented))
            .await
            .status(),
        201
    );
    let hello = app
        .http
        .post(app.url("/hooks/repos/doc"))
        .header("x-github-event", "release")
        .header("x-github-delivery", "i-2")
        .header(
            "x-hub-signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        )
        .body("Hello, World!")
        .send()
        .await
        .unwrap();
    assert_eq!(hello.status(), 400);

    // Importing over it replaces the secret (200); the old one no longer verifies.
    let replaced = json!({ "repo": REPO, "secret": "a new secret" }).to_string();
    assert_eq!(
        api(&app, Method::PUT, path, Some(&replaced)).await.status(),
        200
    );
    assert_eq!(
        release_to(&app, "webhook-test-repo", "i-3", unotify).await,
        401
    );
    assert_eq!(
        release_to(&app, "webhook-test-repo", "i-4", "a new secret").await,
        202
    );
    let empty = json!({ "repo": REPO, "secret": "" }).to_string();
    let refused = api(&app, Method::PUT, path, Some(&empty)).await;
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("`secret`"));
    let missing = api(&app, Method::PUT, path, Some(r#"{"repo": "a/b"}"#)).await;
    assert_eq!(missing.status(), 400);
    assert!(missing.text().await.unwrap().contains("`secret`"));

    assert_eq!(api(&app, Method::DELETE, path, None).await.status(), 204);
    assert_eq!(api(&app, Method::GET, path, None).await.status(), 404);
    assert_eq!(api(&app, Method::DELETE, path, None).await.status(), 404);
    assert_eq!(
        release_to(&app, "webhook-test-repo", "i-5", "a new secret").await,
        404
    );
    assert_eq!(event_count(&app).await, 2);
}

#[tokio::test]
async fn the_store_keeps_only_ciphertext() {
    let sink = Sink::start().await;
    let app = spawn_app(REGISTRY, &sink.url).await;
    let secret = registered(&app, REPO).await;
    let stored = app
        .store
        .get_hook("repos", "webhook-test-repo")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.secret.nonce.len(), 12);
    assert_ne!(stored.secret.ciphertext, secret.as_bytes());
    assert_ne!(
        stored.secret.ciphertext.get(..32),
        hex::decode(&secret).ok().as_deref()
    );
    // Nowhere in the database's files, as text or as bytes.
    let raw = hex::decode(&secret).unwrap();
    for name in ["herald.db", "herald.db-wal"] {
        let Ok(bytes) = std::fs::read(app.dir().join(name)) else {
            continue;
        };
        assert!(!bytes.windows(64).any(|w| w == secret.as_bytes()), "{name}");
        assert!(!bytes.windows(32).any(|w| w == raw.as_slice()), "{name}");
    }
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

fn secret_in(output: &str) -> String {
    output
        .split_whitespace()
        .find(|word| is_secret(word))
        .unwrap_or_else(|| panic!("no secret in {output}"))
        .to_string()
}

#[tokio::test]
async fn the_cli_registers_lists_rotates_imports_and_deletes() {
    let sink = Sink::start().await;
    let app = spawn_app(REGISTRY, &sink.url).await;
    let dir = app.dir();
    let run = |args: &[&str]| herald(dir, args);

    let output = run(&["hooks", "register", "--source", "repos", "--repo", REPO]);
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    let secret = secret_in(&text);
    assert!(text.contains("/hooks/repos/webhook-test-repo"), "{text}");
    assert!(text.contains("server.public_url"), "{text}");
    assert!(text.contains("cannot be shown again"), "{text}");
    // The running herald sees it at once.
    assert_eq!(
        release_to(&app, "webhook-test-repo", "c-1", &secret).await,
        202
    );

    let again = run(&["hooks", "register", "--source", "repos", "--repo", REPO]);
    assert!(!again.status.success());
    let error = String::from_utf8_lossy(&again.stderr);
    assert!(error.contains("already registered"), "{error}");
    let bad = run(&["hooks", "register", "--source", "repos", "--repo", "nope"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("`repo`"));

    let json = run(&[
        "hooks", "register", "--source", "repos", "--repo", "acme/api", "--id", "api", "--json",
    ]);
    let created: Value = serde_json::from_slice(&json.stdout).unwrap();
    let api_secret = created["secret"].as_str().unwrap().to_string();
    assert!(is_secret(&api_secret));

    let list = stdout(&run(&["hooks", "list"]));
    assert!(
        list.contains("webhook-test-repo") && list.contains("acme/api"),
        "{list}"
    );
    let list_json = stdout(&run(&["hooks", "list", "--source", "repos", "--json"]));
    let show = stdout(&run(&["hooks", "show", "repos", "webhook-test-repo"]));
    assert!(show.contains(REPO), "{show}");
    let show_json = stdout(&run(&["hooks", "show", "repos", "api", "--json"]));
    for output in [&list, &list_json, &show, &show_json] {
        assert!(
            !output.contains(&secret) && !output.contains(&api_secret),
            "{output}"
        );
        assert!(!output.contains("\"secret\""), "{output}");
    }

    let rotated = stdout(&run(&[
        "hooks",
        "rotate",
        "repos",
        "webhook-test-repo",
        "--grace",
        "1h",
    ]));
    let new = secret_in(&rotated);
    assert_ne!(new, secret);
    assert!(rotated.contains("still accepted until"), "{rotated}");
    assert_eq!(
        release_to(&app, "webhook-test-repo", "c-2", &new).await,
        202
    );
    assert_eq!(
        release_to(&app, "webhook-test-repo", "c-3", &secret).await,
        202
    );

    // Import from an environment variable, and from standard input.
    let imported = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "hooks",
            "import",
            "--source",
            "repos",
            "--repo",
            "acme/web",
            "--secret-env",
            "WEB_SECRET",
        ])
        .env("HERALD_CONFIG", dir.join("herald.toml"))
        .env("WEB_SECRET", "from-the-environment")
        .output()
        .unwrap();
    assert!(imported.status.success(), "{imported:?}");
    assert!(stdout(&imported).contains("Imported hook `web`"));
    assert!(!stdout(&imported).contains("from-the-environment"));
    assert_eq!(
        release_to(&app, "web", "c-4", "from-the-environment").await,
        202
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "hooks",
            "import",
            "--source",
            "repos",
            "--repo",
            "acme/web",
            "--secret-stdin",
        ])
        .env("HERALD_CONFIG", dir.join("herald.toml"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from-stdin\n")
        .unwrap();
    let replaced = child.wait_with_output().unwrap();
    assert!(stdout(&replaced).contains("Replaced the secret of hook `web`"));
    assert_eq!(release_to(&app, "web", "c-5", "from-stdin").await, 202);
    let none = run(&["hooks", "import", "--source", "repos", "--repo", "acme/web"]);
    assert!(!none.status.success());

    let deleted = run(&["hooks", "delete", "repos", "web"]);
    assert!(deleted.status.success());
    assert_eq!(release_to(&app, "web", "c-6", "from-stdin").await, 404);
    assert!(!run(&["hooks", "delete", "repos", "web"]).status.success());
    assert!(!run(&["hooks", "show", "repos", "web"]).status.success());
}

#[tokio::test]
async fn registered_hooks_on_postgres() {
    let Some((_database, url)) =
        crate::postgres::FreshDatabase::create("registered_hooks_on_postgres").await
    else {
        return;
    };
    let config = REGISTRY.replace(
        "[storage]\npath = \"herald.db\"",
        &format!("[storage]\nbackend = \"postgres\"\nurl = \"{url}\""),
    );
    let sink = Sink::start().await;
    let app = spawn_app(&config, &sink.url).await;
    assert_eq!(app.store.backend(), "postgres");
    let secret = registered(&app, REPO).await;
    assert_eq!(
        register(&app, json!({ "source": "repos", "repo": REPO }))
            .await
            .status(),
        409
    );
    // A replica on the same database sees the hook at once.
    let replica = app.replica().await;
    assert_eq!(
        release_to(&replica, "webhook-test-repo", "p-1", &secret).await,
        202
    );
    assert_eq!(
        release_to(&app, "webhook-test-repo", "p-2", &secret).await,
        202
    );
    assert_eq!(
        release_to(&app, "webhook-test-repo", "p-3", "wrong").await,
        401
    );
    assert_eq!(release_to(&app, "nope", "p-4", &secret).await, 404);
    let events = app
        .store
        .list_events(&herald_store::model::EventQuery::default())
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    assert!(
        events
            .iter()
            .all(|e| e.hook.as_ref().map(|h| h.repository.as_str()) == Some(REPO))
    );

    let rotated: Value = api(
        &app,
        Method::POST,
        "/api/hooks/repos/webhook-test-repo/rotate",
        Some(r#"{"grace":"10m"}"#),
    )
    .await
    .json()
    .await
    .unwrap();
    let new = rotated["secret"].as_str().unwrap().to_string();
    assert_eq!(
        release_to(&replica, "webhook-test-repo", "p-5", &secret).await,
        202
    );
    replica.advance(600.0);
    assert_eq!(
        release_to(&replica, "webhook-test-repo", "p-6", &secret).await,
        401
    );
    assert_eq!(
        release_to(&replica, "webhook-test-repo", "p-7", &new).await,
        202
    );
    let imported = json!({ "repo": "acme/web", "secret": "kept" }).to_string();
    assert_eq!(
        api(&app, Method::PUT, "/api/hooks/repos/web", Some(&imported))
            .await
            .status(),
        201
    );
    assert_eq!(release_to(&replica, "web", "p-8", "kept").await, 202);
    assert_eq!(
        api(&app, Method::DELETE, "/api/hooks/repos/web", None)
            .await
            .status(),
        204
    );
    assert_eq!(release_to(&replica, "web", "p-9", "kept").await, 404);
    let listed = api(&app, Method::GET, "/api/hooks", None)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !listed.contains(&secret) && !listed.contains(&new),
        "{listed}"
    );
}

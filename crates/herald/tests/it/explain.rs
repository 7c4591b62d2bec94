//! "Why didn't this rule fire?": `GET /api/events/{id}/explain` and `herald explain`, with
//! a rule whose filter is false, one for another type, one for another source, a windowed
//! rule (the group and window the event joined) and a plain one (its delivery).

use crate::cli::{herald, stdout};
use crate::support::*;
use serde_json::{Value, json};

const CONFIG: &str = r#"
[server]
admin_secret = "admin"

[secrets]
github = "It's a Secret to Everybody"
admin = "admin-token-for-tests"

[sources.github]
kind = "github"
secrets = ["github"]

[sources.other]
kind = "github"
secrets = ["github"]

[rules.main-only]
sources = ["github"]
events = ["push"]
filter = "event.ref == 'refs/heads/main'"
actions = ["forward"]

[rules.releases]
sources = ["github"]
events = ["release.*"]
actions = ["forward"]

[rules.elsewhere]
sources = ["other"]
events = ["*"]
actions = ["forward"]

[rules.digest]
sources = ["github"]
events = ["push"]
actions = ["forward"]
window = { group = "{{ event.repository.name }}", quiet = "10s" }

[rules.everything]
sources = ["*"]
events = ["*"]
actions = ["forward"]

[actions.forward]
kind = "http"
url = "{SINK}/forward"

[storage]
path = "herald.db"
"#;

#[tokio::test]
async fn each_rule_says_why_it_did_or_did_not_match_by_api_and_cli() {
    let sink = Sink::start().await;
    let app = spawn_app(CONFIG, &sink.url).await;
    let push = json!({"ref": "refs/heads/feature", "after": "abc", "repository": {"name": "api", "full_name": "acme/api"}});
    let response = app
        .github("push", "delivery-7", &push.to_string(), GITHUB_SECRET)
        .await;
    assert_eq!(response.status(), 202);

    // By the sender's delivery id, as by herald's.
    let explained = app.admin_get("/api/events/delivery-7/explain").await;
    assert_eq!(explained["event_type"], "push");
    let rules = explained["rules"].as_array().unwrap();
    let by_name = |name: &str| -> &Value { rules.iter().find(|r| r["rule"] == name).unwrap() };
    let names: Vec<&str> = rules.iter().map(|r| r["rule"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 5, "{names:?}");

    let filtered = by_name("main-only");
    assert_eq!(filtered["matched"], false);
    assert_eq!(filtered["filter"], json!({"value": false}));
    assert_eq!(
        filtered["reason"],
        "source `github` and type `push` (`push`), but its filter is false"
    );
    assert_eq!(
        by_name("releases")["reason"],
        "type `push` matches none of its events (release.*)"
    );
    assert_eq!(
        by_name("elsewhere")["reason"],
        "source `github` is not one of its sources (other)"
    );
    let digest = by_name("digest");
    assert_eq!(digest["matched"], true);
    assert_eq!(digest["window"]["group_key"], "api");
    assert_eq!(digest["window"]["window"]["status"], "open");
    assert_eq!(digest["window"]["window"]["count"], 1);
    assert_eq!(digest["deliveries"], json!([]));
    let everything = by_name("everything");
    assert_eq!(everything["matched"], true);
    let deliveries = everything["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0]["action"], "forward");
    assert_eq!(deliveries[0]["status"], "pending");

    let missing = app
        .http
        .get(app.url("/api/events/nope/explain"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // The same answer from the command line, on the same store.
    let printed = herald(app.dir(), &["explain", "delivery-7"]);
    assert!(printed.status.success(), "{printed:?}");
    let text = stdout(&printed);
    assert!(text.contains("rule main-only: did not match\n  why: source `github` and type `push` (`push`), but its filter is false"), "{text}");
    assert!(text.contains("rule digest: matched"), "{text}");
    assert!(text.contains("  window: group \"api\", window "), "{text}");
    assert!(text.contains("rule everything: matched"), "{text}");
    assert!(text.contains("→ forward: pending (0 attempts)"), "{text}");
    let json_out = herald(app.dir(), &["explain", "delivery-7", "--json"]);
    let parsed: Value = serde_json::from_str(&stdout(&json_out)).unwrap();
    assert_eq!(parsed["rules"], explained["rules"]);
}

//! The `sql` action's options as `check` reads them, and its plans as dry runs show them.

use crate::action::{NoRefs, Plan};
use crate::config::Config;
use crate::integrations::test_support::{config_problems, load_config, plan_event};
use serde_json::{Value, json};

const USERS: &str = r#"
[secrets]
app_db = "postgres://herald:pa55word-xyz@db.internal/app"
api_key = "sk_live_not_to_be_shown"

[sources.workos]
kind = "token"
secrets = ["api_key"]
event_type = "event.event"

[rules.sync]
sources = ["workos"]
actions = ["users"]

[actions.users]
kind = "sql"
database = "app_db"
schema = "CREATE TABLE IF NOT EXISTS users (id text PRIMARY KEY, email text)"
statements = [{ sql = "INSERT INTO seen (type) VALUES ($1)", params = ["{{ meta.type }}"] }]

[[actions.users.cases]]
events = ["user.created", "user.updated"]
statements = [
  { sql = "INSERT INTO users (id, email, verified, name, meta) VALUES ($1, $2, $3, $4, $5)", params = ["{{ event.data.id }}", "{{ event.data.email }}", "{{ event.data.email_verified }}", "{{ event.data.first_name }}", "{{ event.data }}"] },
  { sql = "INSERT INTO audit (key) VALUES ($1)", params = ["{{ secret('api_key') }}"] },
]

[[actions.users.cases]]
events = ["user.deleted"]
statements = [{ sql = "DELETE FROM users WHERE id = $1", params = ["{{ event.data.id }}"] }]
"#;

async fn plan(config: &Config, event_type: &str, payload: Value) -> Plan {
    plan_event(config, "users", &NoRefs, ("workos", event_type), &payload).await
}

fn user() -> Value {
    json!({"event": "user.created", "data": {
        "id": "user_1", "email": "'); DROP TABLE users; --", "email_verified": true,
        "first_name": null,
    }})
}

#[tokio::test]
async fn a_matching_case_plans_its_statements_with_typed_values_shown_redacted() {
    let config = load_config(USERS).unwrap();
    let plan = plan(&config, "user.created", user()).await;
    let shown = plan.describe();
    let effect = &shown["effect"];
    assert_eq!(
        effect["purpose"],
        "run 2 statements in one transaction on `app_db` (postgres)"
    );
    assert_eq!(
        effect["statements"][0]["params"],
        json!([
            "user_1",
            "'); DROP TABLE users; --",
            true,
            null,
            user()["data"]
        ])
    );
    assert_eq!(effect["statements"][1]["params"], json!(["[redacted]"]));
    let text = shown.to_string();
    for secret in ["pa55word-xyz", "sk_live_not_to_be_shown", "db.internal"] {
        assert!(!text.contains(secret), "{text}");
        assert!(!format!("{plan:?}").contains(secret));
    }
}

#[tokio::test]
async fn cases_are_chosen_by_type_and_the_action_statements_take_the_rest() {
    let config = load_config(USERS).unwrap();
    let deleted = plan(&config, "user.deleted", user()).await.describe();
    assert_eq!(
        deleted["effect"]["statements"],
        json!([{"sql": "DELETE FROM users WHERE id = $1", "params": ["user_1"]}])
    );
    let other = plan(&config, "dsync.user.created", user()).await.describe();
    assert_eq!(
        other["effect"]["statements"][0]["params"],
        json!(["dsync.user.created"])
    );

    let without_default = USERS.replace(
        "statements = [{ sql = \"INSERT INTO seen (type) VALUES ($1)\", params = [\"{{ meta.type }}\"] }]\n",
        "",
    );
    let config = load_config(&without_default).unwrap();
    let other = plan(&config, "dsync.user.created", user()).await;
    assert!(other.effect.is_none());
    assert_eq!(
        other.describe(),
        json!({"log": "no statements for type dsync.user.created"})
    );
}

#[test]
fn deliveries_run_one_at_a_time_unless_an_ordering_key_says_otherwise() {
    let config = load_config(USERS).unwrap();
    let action = &config.actions["users"].action;
    let key = action.ordering_key().unwrap();
    assert_eq!(key.prefix, "sql:actions.users");
    assert_eq!(action.credential_secrets(), ["app_db"]);
}

#[test]
fn check_finds_what_would_fail_with_its_line() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "database = \"app_db\"",
            "database = \"nope\"",
            ":17:12: error: undefined secret `nope`",
        ),
        (
            "app_db = \"postgres://herald:pa55word-xyz@db.internal/app\"",
            "app_db = \"mysql://herald:pa55word-xyz@db.internal/app\"",
            ":17:12: error: secret `app_db`: the secret must hold `sqlite://PATH` or",
        ),
        ("schema =", "shema =", "unknown key `shema`"),
        (
            "DELETE FROM users WHERE id = $1",
            "DELETE FROM users WHERE id = $2",
            "the statement takes 2 parameters but `params` has 1",
        ),
        (
            "params = [\"{{ event.data.id }}\"] }]",
            "params = [\"{{ event.data.id }\"] }]",
            "bad template",
        ),
        (
            "events = [\"user.deleted\"]",
            "events = []",
            "list the event types this case is for",
        ),
        (
            "DELETE FROM users WHERE id = $1",
            "DELETE FROM users WHERE id = $1; DROP TABLE x",
            "one statement per `sql`",
        ),
        (
            "events = [\"user.deleted\"]",
            "events = [\"user.[\"]",
            "bad event pattern",
        ),
    ];
    for (from, to, expected) in cases {
        let text = USERS.replace(from, to);
        assert_ne!(text, USERS, "{from}");
        let error = config_problems(&text);
        assert!(error.contains(expected), "{to}: {error}");
        assert!(!error.contains("pa55word"), "{error}");
    }
    let bare =
        "[secrets]\ndb = \"sqlite://app.db\"\n[actions.a]\nkind = \"sql\"\ndatabase = \"db\"\n";
    assert!(config_problems(bare).contains("give `statements`"));
}

//! Values written into templates with `${env:…}` or `${file:…}` (a webhook URL's token, an
//! API key header) are sent, but shown nowhere: not in plans, dry runs or attempt logs.

use herald::action::{ActionInput, NoRefs};
use std::sync::Arc;

const HOOK_TOKEN: &str = "T0001/B0001/XXXXsecretXXXX";
const API_KEY: &str = "key-9f8e7d-abc";

const CONFIG: &str = r#"
[secrets]
github = "It's a Secret to Everybody"

[sources.github]
kind = "github"
secrets = ["github"]

[rules.all]
sources = ["github"]
actions = ["hook"]

[actions.hook]
kind = "http"
url = "https://hooks.example.com/services/${env:HOOK_TOKEN}"
headers = { "X-Api-Key" = "${env:API_KEY}", "X-Port" = "${env:PORT}" }
body = '{"key": "${env:API_KEY}", "ref": {{ event.ref }}}'
"#;

#[tokio::test]
async fn interpolated_values_are_sent_but_never_shown() {
    let env: herald::kit::interpolate::EnvLookup = Arc::new(|name| match name {
        "HOOK_TOKEN" => Some(HOOK_TOKEN.into()),
        "API_KEY" => Some(API_KEY.into()),
        "PORT" => Some("443".into()),
        _ => None,
    });
    let loaded = herald::config::from_text(
        std::path::Path::new("herald.toml"),
        CONFIG,
        env,
        &herald::integrations::catalog(),
    )
    .unwrap_or_else(|report| panic!("{report}"));
    let config = loaded.config;
    let context = minijinja::Value::from(minijinja::value::Serde(serde_json::json!({
        "event": {"ref": "refs/heads/main"}
    })));
    let input = ActionInput {
        templates: &config.templates,
        context: &context,
        refs: &NoRefs,
        now: chrono::Utc::now(),
        done: 0,
        delivery: None,
    };
    let plan = config.actions["hook"].action.plan(&input).await.unwrap();
    let request = &plan.requests[0];
    assert!(request.url.as_str().ends_with(HOOK_TOKEN));
    let sent_body = std::str::from_utf8(request.body.as_ref().unwrap()).unwrap();
    assert!(sent_body.contains(API_KEY), "{sent_body}");
    assert!(request.headers.iter().any(|(_, v)| v == API_KEY));

    let shown = plan.describe().to_string();
    for value in [HOOK_TOKEN, "XXXXsecretXXXX", "9f8e7d"] {
        assert!(!shown.contains(value), "{value} shown in {shown}");
    }
    assert!(
        shown.contains("https://hooks.example.com/services/[redacted]"),
        "{shown}"
    );
    // Values too short to be credentials (a port) stay readable.
    assert!(shown.contains("443"), "{shown}");
}

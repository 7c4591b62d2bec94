//! What a command that reads the store gets without its secrets (`Needs::Store`), and what
//! one that sends is told is missing (`Needs::Everything`).

use herald::action::{ActionInput, NoRefs};
use herald::config::{Needs, from_text_needing};
use std::path::Path;
use std::sync::Arc;

/// A Slack token and a GitHub App key from the environment, neither set.
const CONFIG: &str = r##"
[secrets]
pact = "${env:PACT_TOKEN}"
slack = "${env:SLACK_TOKEN}"
github_key = "${file:missing-app-key.pem}"

[sources.pact]
kind = "token"
secrets = ["pact"]

[rules.digest]
sources = ["pact"]
actions = ["post", "dispatch", "forward"]
window = { quiet = "10s" }

[actions.forward]
kind = "http"
url = "${env:SINK_URL}"

[actions.post]
kind = "slack"
token = "slack"
channel = "#ci"
text = "{{ window.events | length }} events"

[actions.dispatch]
kind = "github-dispatch"
app = { id = 1, installation = 2, private_key = "github_key" }
repository = "acme/app"
event_type = "verify"
"##;

fn load(needs: Needs) -> Result<herald::config::Loaded, herald::kit::diagnostic::Report> {
    from_text_needing(
        Path::new("herald.toml"),
        CONFIG,
        Arc::new(|_| None),
        &herald::integrations::catalog(),
        needs,
    )
}

#[test]
fn everything_names_each_secret_that_cannot_be_read() {
    let report = load(Needs::Everything).err().expect("errors");
    let errors: Vec<_> = report.errors().map(|d| d.message.clone()).collect();
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("SINK_URL")), "{errors:?}");
    assert!(
        errors.iter().any(|e| e.contains("PACT_TOKEN")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("SLACK_TOKEN")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("missing-app-key.pem")),
        "{errors:?}"
    );
}

#[tokio::test]
async fn store_goes_without_them_and_keeps_every_action_and_rule() {
    let loaded = load(Needs::Store).unwrap_or_else(|report| panic!("{report}"));
    let absent = &loaded.absent;
    assert_eq!(
        absent.secrets.keys().collect::<Vec<_>>(),
        ["github_key", "pact", "slack"]
    );
    assert!(absent.secrets["slack"].contains("SLACK_TOKEN is not set"));
    assert!(
        absent
            .describe()
            .contains("`pact` (environment variable PACT_TOKEN")
    );
    // Outside `[secrets]`, an unset variable is absent too.
    assert_eq!(absent.variables.iter().collect::<Vec<_>>(), ["SINK_URL"]);
    assert!(
        absent
            .describe()
            .ends_with("environment variable SINK_URL (not set)")
    );
    // The Slack action is built from its stand-in token; the App key must be a real
    // PEM and the URL a URL, so those actions are stand-ins whose plans fail.
    assert_eq!(
        absent.stand_ins.iter().collect::<Vec<_>>(),
        ["actions.dispatch", "actions.forward"]
    );
    let config = &loaded.config;
    assert_eq!(config.actions["post"].kind, "slack");
    assert_eq!(config.actions["dispatch"].kind, "github-dispatch");
    assert_eq!(config.rules[0].actions, ["post", "dispatch", "forward"]);
    assert!(config.source("pact").is_some());
    let context = minijinja::Value::from(());
    let input = ActionInput {
        templates: &config.templates,
        context: &context,
        refs: &NoRefs,
        now: chrono::Utc::now(),
        done: 0,
        delivery: None,
    };
    let Err(error) = config.actions["dispatch"].action.plan(&input).await else {
        panic!("a stand-in cannot plan");
    };
    assert!(
        error
            .to_string()
            .contains("cannot be built without the secret `github_key`"),
        "{error}"
    );
    let Err(error) = config.actions["forward"].action.plan(&input).await else {
        panic!("a stand-in cannot plan");
    };
    assert!(
        error
            .to_string()
            .contains("without environment variable SINK_URL"),
        "{error}"
    );
    // The warnings are the file's, not the absent secrets'.
    assert_eq!(loaded.warnings.errors().count(), 0);
}

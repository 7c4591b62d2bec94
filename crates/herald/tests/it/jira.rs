//! Jira tickets that follow releases (unotify's scenarios U7–U12, and what it got wrong),
//! against a fake Jira: one release moves each ticket one step, whatever GitHub sends for
//! it; keys are read as Jira writes them; one bad key stops nothing else.

use crate::fakes::jira::{FakeJira, Fault};
use crate::support::*;
use herald_store::model::{DeliveryStatus, FailureKind};
use serde_json::json;

const EMAIL: &str = "bot@example.com";
const TOKEN: &str = "tok";
/// unotify's `config/statemachines/jira.hcl`, unchanged.
const UNOTIFY_HCL: &str = include_str!("../../src/integrations/jira/testdata/unotify_jira.hcl");

/// unotify's machines for SOC and DEVHOP from its HCL file, two more written in TOML.
fn config(hcl_path: &str, events: &str) -> String {
    format!(
        r#"
[secrets]
github = "It's a Secret to Everybody"
jira_token = "{TOKEN}"

[jira]
state_machines = "{hcl_path}"
projects = ["soc", "devhop", "dev_ops", "abc2"]

[jira.machines.dev_ops]
aliases = {{ to_do = "To Do", done = "Done" }}
states = {{ to_do = {{ next = "done" }}, done = {{ next = "<end>" }} }}

[jira.machines.abc2]
aliases = {{ to_do = "To Do", done = "Done" }}
states = {{ to_do = {{ next = "done" }}, done = {{ next = "<end>" }} }}

[sources.github]
kind = "github"
secrets = ["github"]

[rules.release_moves_tickets]
sources = ["github"]
events = {events}
actions = ["move"]

[actions.move]
kind = "jira-transition"
url = "{{SINK}}"
email = "{EMAIL}"
token = "jira_token"
once_per = "{{{{ event.release.id }}}}"
retry = {{ schedule = ["1s", "1s", "1s"], jitter = 0 }}

[storage]
path = "herald.db"
"#
    )
}

struct Setup {
    app: TestApp,
    jira: FakeJira,
    _hcl: tempfile::TempDir,
}

async fn setup(events: &str) -> Setup {
    let jira = FakeJira::start(EMAIL, TOKEN).await;
    let hcl = tempfile::tempdir().unwrap();
    let path = hcl.path().join("jira.hcl");
    std::fs::write(&path, UNOTIFY_HCL).unwrap();
    let app = spawn_app(&config(path.to_str().unwrap(), events), &jira.url).await;
    Setup {
        app,
        jira,
        _hcl: hcl,
    }
}

fn release(action: &str, id: u64, notes: &str) -> String {
    json!({
        "action": action,
        "release": {"id": id, "tag_name": "v1.0.1", "body": notes},
        "repository": {"full_name": "go-batteries/webhook-test-repo"},
    })
    .to_string()
}

async fn send_release(app: &TestApp, action: &str, id: u64, notes: &str) {
    let delivery = format!("{action}-{id}-{}", uuid::Uuid::now_v7());
    let response = app
        .github(
            "release",
            &delivery,
            &release(action, id, notes),
            GITHUB_SECRET,
        )
        .await;
    assert_eq!(response.status(), 202);
}

/// U7 and A5: one release, three deliveries (`created`, `published`, `released`), each
/// ticket named twice: each ticket moves exactly one step.
#[tokio::test]
async fn one_release_moves_each_ticket_one_step_whatever_github_sends_for_it() {
    let Setup { app, jira, .. } = setup(r#"["release.*"]"#).await;
    jira.issue("SOC-1", "To Do");
    jira.issue("DEVHOP-7", "In Progress");
    for action in ["created", "published", "released"] {
        send_release(&app, action, 1001, "SOC-1, SOC-1 again, DEVHOP-7").await;
    }
    app.deliver_all().await;
    assert_eq!(
        jira.all_moves(),
        vec![
            ("SOC-1".to_string(), "21".to_string()),
            ("DEVHOP-7".to_string(), "31".to_string())
        ]
    );
    assert_eq!(jira.status_of("SOC-1").as_deref(), Some("In Progress"));
    assert_eq!(jira.status_of("DEVHOP-7").as_deref(), Some("Done"));
    let deliveries = app.deliveries().await;
    assert_eq!(deliveries.len(), 3);
    assert!(
        deliveries
            .iter()
            .all(|d| d.status == DeliveryStatus::Succeeded),
        "{deliveries:?}"
    );
    // Every Jira call carries unotify's Basic credential for bot@example.com:tok.
    assert!(!jira.calls().is_empty());
}

/// U11, fixed: `created` then `published` for one release move SOC-5 once, not twice.
#[tokio::test]
async fn a_second_delivery_of_the_same_release_does_not_move_a_ticket_again() {
    let Setup { app, jira, .. } = setup(r#"["release.*"]"#).await;
    jira.issue("SOC-5", "To Do");
    send_release(&app, "created", 1005, "SOC-5").await;
    app.deliver_all().await;
    assert_eq!(jira.moves_of("SOC-5"), vec!["21"]);
    send_release(&app, "published", 1005, "SOC-5").await;
    app.deliver_all().await;
    assert_eq!(jira.moves_of("SOC-5"), vec!["21"]);
    // A new release moves it on.
    send_release(&app, "published", 1006, "SOC-5").await;
    app.deliver_all().await;
    assert_eq!(jira.moves_of("SOC-5"), vec!["21", "31"]);
}

/// U8: a ticket at the end stays. U9: an unconfigured project is never asked about, and a
/// status the machine does not know stays.
#[tokio::test]
async fn tickets_at_the_end_in_unknown_statuses_or_unconfigured_projects_stay() {
    let Setup { app, jira, .. } = setup(r#"["release.published"]"#).await;
    jira.issue("SOC-2", "Done");
    jira.issue("SOC-3", "In Review");
    jira.issue("ABC-1", "To Do");
    send_release(&app, "published", 1008, "SOC-2, ABC-1 and SOC-3").await;
    app.deliver_all().await;
    assert!(jira.all_moves().is_empty(), "{:?}", jira.calls());
    assert!(!jira.calls().iter().any(|call| call.path.contains("ABC-1")));
    assert_eq!(app.only_delivery().await.status, DeliveryStatus::Succeeded);
}

/// U10 and the dash bug, fixed: `DEV-OPS-12` is not `OPS-12`, lowercase keys are not
/// tickets; `DEV_OPS-3` and `ABC2-5` are.
#[tokio::test]
async fn keys_are_read_as_jira_writes_them() {
    let Setup { app, jira, .. } = setup(r#"["release.published"]"#).await;
    jira.issue("DEV_OPS-3", "To Do");
    jira.issue("ABC2-5", "To Do");
    send_release(&app, "published", 1010, "DEV-OPS-12 soc-4 UTF-8").await;
    app.deliver_all().await;
    assert!(jira.calls().is_empty(), "{:?}", jira.calls());
    send_release(&app, "published", 1011, "* DEV_OPS-3 infra\n* ABC2-5 login").await;
    app.deliver_all().await;
    assert_eq!(jira.moves_of("DEV_OPS-3"), vec!["31"]);
    assert_eq!(jira.moves_of("ABC2-5"), vec!["31"]);
}

/// A5, fixed: a 404 for one key fails only that key; the next key moves, and later
/// deliveries of the same project are not poisoned.
#[tokio::test]
async fn a_missing_ticket_stops_neither_the_next_key_nor_later_deliveries() {
    let Setup { app, jira, .. } = setup(r#"["release.published"]"#).await;
    jira.issue("SOC-6", "To Do");
    jira.issue("SOC-7", "To Do");
    send_release(&app, "published", 1020, "SOC-404 then SOC-6").await;
    app.deliver_all().await;
    assert_eq!(jira.moves_of("SOC-6"), vec!["21"]);
    let delivery = app.only_delivery().await;
    assert_eq!(delivery.status, DeliveryStatus::Dead);
    let error = delivery.last_error.unwrap();
    assert!(error.starts_with("SOC-404: HTTP 404"), "{error}");

    send_release(&app, "published", 1021, "SOC-7").await;
    app.deliver_all().await;
    assert_eq!(jira.moves_of("SOC-7"), vec!["21"]);
}

/// Transitions are cached per (project, status): tickets in two statuses are read twice,
/// a third ticket in a status seen before is not read again.
#[tokio::test]
async fn transitions_are_cached_per_project_and_status() {
    let Setup { app, jira, .. } = setup(r#"["release.published"]"#).await;
    jira.issue("SOC-8", "To Do");
    jira.issue("SOC-9", "In Progress");
    jira.issue("SOC-10", "To Do");
    send_release(&app, "published", 1030, "SOC-8 SOC-9").await;
    app.deliver_all().await;
    send_release(&app, "published", 1031, "SOC-10").await;
    app.deliver_all().await;
    let reads: Vec<String> = jira
        .calls()
        .iter()
        .filter(|call| call.method == "GET" && call.path.ends_with("/transitions"))
        .map(|call| call.path.clone())
        .collect();
    assert_eq!(
        reads,
        vec![
            "/rest/api/2/issue/SOC-8/transitions",
            "/rest/api/2/issue/SOC-9/transitions"
        ]
    );
    assert_eq!(jira.moves_of("SOC-10"), vec!["21"]);
    assert_eq!(jira.moves_of("SOC-9"), vec!["31"]);
}

/// 429 waits for `Retry-After` without using up the schedule and 5xx retries; the retry
/// resumes with the keys not yet done, so a key already moved is not moved again.
#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_from_the_keys_not_done() {
    let Setup { app, jira, .. } = setup(r#"["release.published"]"#).await;
    jira.issue("SOC-11", "To Do");
    jira.issue("SOC-12", "To Do");
    send_release(&app, "published", 1040, "SOC-11 SOC-12").await;
    // SOC-11's three calls pass; SOC-12's first read is rate limited.
    jira.fail_next([
        Fault::Pass,
        Fault::Pass,
        Fault::Pass,
        Fault::RateLimited { retry_after: 2 },
    ]);
    assert_eq!(app.deliver().await, 1);
    assert_eq!(jira.moves_of("SOC-11"), vec!["21"]);
    let delivery = app.only_delivery().await;
    assert_eq!(
        (delivery.status, delivery.retries_used),
        (DeliveryStatus::Pending, 0)
    );
    assert!(delivery.last_error.unwrap().contains("429"));

    jira.fail_next([Fault::ServerError]);
    app.advance(2.0);
    assert_eq!(app.deliver().await, 1);
    assert!(
        app.only_delivery()
            .await
            .last_error
            .unwrap()
            .contains("500")
    );
    app.advance(1.0);
    assert_eq!(app.deliver().await, 1);
    assert_eq!(jira.moves_of("SOC-12"), vec!["21"]);
    assert_eq!(jira.moves_of("SOC-11"), vec!["21"]);
    assert_eq!(app.only_delivery().await.status, DeliveryStatus::Succeeded);
}

/// A refused credential is a credential failure the monitors alert on.
#[tokio::test]
async fn a_refused_token_is_a_credential_failure() {
    let jira = FakeJira::start(EMAIL, "another-token").await;
    let hcl = tempfile::tempdir().unwrap();
    let path = hcl.path().join("jira.hcl");
    std::fs::write(&path, UNOTIFY_HCL).unwrap();
    let app = spawn_app(
        &config(path.to_str().unwrap(), r#"["release.published"]"#),
        &jira.url,
    )
    .await;
    jira.issue("SOC-13", "To Do");
    send_release(&app, "published", 1050, "SOC-13").await;
    app.deliver_all().await;
    let delivery = app.only_delivery().await;
    assert_eq!(delivery.status, DeliveryStatus::Dead);
    assert_eq!(delivery.failure_kind, Some(FailureKind::Credential));
}

/// A `jira-transition` action with a token and no email sends it as a bearer token (Jira
/// Data Center's personal access tokens), and the ticket moves.
#[tokio::test]
async fn a_token_without_an_email_is_sent_as_a_bearer_token() {
    let jira = FakeJira::start_bearer(TOKEN).await;
    let hcl = tempfile::tempdir().unwrap();
    let path = hcl.path().join("jira.hcl");
    std::fs::write(&path, UNOTIFY_HCL).unwrap();
    let text = config(path.to_str().unwrap(), r#"["release.published"]"#)
        .replace(&format!("email = \"{EMAIL}\"\n"), "");
    assert!(!text.contains(EMAIL));
    let app = spawn_app(&text, &jira.url).await;
    jira.issue("SOC-14", "To Do");
    send_release(&app, "published", 1060, "SOC-14").await;
    app.deliver_all().await;
    assert_eq!(app.only_delivery().await.status, DeliveryStatus::Succeeded);
    assert_eq!(jira.moves_of("SOC-14"), vec!["21".to_string()]);
    assert_eq!(jira.status_of("SOC-14").as_deref(), Some("In Progress"));
}

/// U12: the four machines that stopped unotify's worker are refused by `check`, each with
/// the file, line and column of its cause, and nothing else is reported.
#[test]
fn check_refuses_each_broken_machine_at_its_place() {
    let broken = r#"provisioner "soc" {
  aliasmapper "soc" {
    aliases = {
      to_do: "To Do",
      done: "Done"
    }
  }
  statemachine "soc" {
    initial = "to_do"
    state "to_do" "next" {
      transition = "in_qa"
    }
    state "review" "next" {
      transition = "done"
    }
    state "done" "next" {
      transition = "<end>"
    }
    state "done" "next" {
      transition = "<end>"
    }
  }
}
"#;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("jira.hcl"), broken).unwrap();
    let path = dir.path().join("herald.toml");
    let text = "[jira]\nstate_machines = \"jira.hcl\"\nprojects = [\"soc\", \"ops\"]\n";
    let report = match herald::config::from_text(
        &path,
        text,
        std::sync::Arc::new(|_| None),
        &herald::integrations::catalog(),
    ) {
        Ok(_) => panic!("a broken machine loaded"),
        Err(report) => report,
    };
    let messages: Vec<String> = report.errors().map(|d| d.message.clone()).collect();
    assert_eq!(
        messages,
        vec![
            "jira.hcl:10:5: `to_do` on `next` goes to `in_qa`, which has no state of its own",
            "jira.hcl:13:5: state `review` has no alias (its Jira status name)",
            "jira.hcl:19:5: state `done` has `next` twice: one transition per (state, event)",
            "project `ops` has no state machine",
        ]
    );
    assert!(
        report
            .location(report.errors().last().unwrap())
            .ends_with("herald.toml:3:20")
    );
}

/// unotify's own file loads unchanged, next to machines written in TOML.
#[test]
fn unotify_s_state_machine_file_loads_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("jira.hcl"), UNOTIFY_HCL).unwrap();
    let path = dir.path().join("herald.toml");
    let text = "[jira]\nstate_machines = \"jira.hcl\"\nprojects = [\"soc\", \"devhop\"]\n";
    let loaded = herald::config::from_text(
        &path,
        text,
        std::sync::Arc::new(|_| None),
        &herald::integrations::catalog(),
    )
    .unwrap_or_else(|report| panic!("{report}"));
    let jira = herald::integrations::jira::settings::JiraConfig::of(&loaded.config.sections);
    assert_eq!(
        jira.projects().into_iter().collect::<Vec<_>>(),
        ["DEVHOP", "SOC"]
    );
}

/// `jira-comment` comments on each ticket once per release; tickets may come from a pull
/// request's title and branch where a rule says so.
#[tokio::test]
async fn comments_once_per_release_and_tickets_from_pull_requests() {
    let jira = FakeJira::start(EMAIL, TOKEN).await;
    let hcl = tempfile::tempdir().unwrap();
    let path = hcl.path().join("jira.hcl");
    std::fs::write(&path, UNOTIFY_HCL).unwrap();
    let extra = r#"
[rules.release_comment]
sources = ["github"]
events = ["release.*"]
actions = ["comment"]

[rules.merged]
sources = ["github"]
events = ["pull_request.closed"]
actions = ["move_from_pr"]

[actions.comment]
kind = "jira-comment"
url = "{SINK}"
email = "bot@example.com"
token = "jira_token"
body = "Released in {{ event.release.tag_name }}."
once_per = "{{ event.release.id }}"

[actions.move_from_pr]
kind = "jira-transition"
url = "{SINK}"
email = "bot@example.com"
token = "jira_token"
tickets = "{{ (event.pull_request.title ~ ' ' ~ event.pull_request.head.ref) | jira_keys }}"
once_per = "{{ event.pull_request.html_url }}"
"#;
    let text = config(path.to_str().unwrap(), r#"["release.never"]"#) + extra;
    let app = spawn_app(&text, &jira.url).await;
    jira.issue("SOC-20", "To Do");
    jira.issue("DEVHOP-21", "To Do");
    for action in ["created", "published"] {
        send_release(&app, action, 1060, "SOC-20 and DEVHOP-21").await;
    }
    app.deliver_all().await;
    let comments: Vec<(String, serde_json::Value)> = jira
        .calls()
        .into_iter()
        .filter(|call| call.path.ends_with("/comment"))
        .map(|call| (call.path, call.body))
        .collect();
    assert_eq!(
        comments,
        vec![
            (
                "/rest/api/2/issue/SOC-20/comment".to_string(),
                json!({"body": "Released in v1.0.1."})
            ),
            (
                "/rest/api/2/issue/DEVHOP-21/comment".to_string(),
                json!({"body": "Released in v1.0.1."})
            ),
        ]
    );

    let pull = json!({
        "action": "closed",
        "number": 5,
        "pull_request": {"title": "SOC-20: login", "head": {"ref": "feature/DEVHOP-21-infra"}, "html_url": "https://github.com/acme/app/pull/5"},
    });
    let response = app
        .github("pull_request", "pr-5", &pull.to_string(), GITHUB_SECRET)
        .await;
    assert_eq!(response.status(), 202);
    app.deliver_all().await;
    assert_eq!(jira.moves_of("SOC-20"), vec!["21"]);
    assert_eq!(jira.moves_of("DEVHOP-21"), vec!["21"]);
}

/// The `jira-release` preset end to end: a hook registered through the API, a release
/// signed with its secret posted to its URL, and each ticket of the notes moved one step
/// and commented on once, whatever else GitHub sends for the release.
#[tokio::test]
async fn the_jira_release_preset_moves_tickets_of_a_registered_repository() {
    let jira = FakeJira::start(EMAIL, TOKEN).await;
    let preset = herald::presets::find("jira-release").unwrap().text;
    let config = preset
        .replace("${env:HERALD_HOOKS_KEY}", &"ab".repeat(32))
        .replace("${env:JIRA_URL}", "{SINK}")
        .replace("${env:JIRA_EMAIL}", EMAIL)
        .replace("${env:JIRA_API_TOKEN}", TOKEN)
        .replace(
            "listen = \"127.0.0.1:8787\"",
            "listen = \"127.0.0.1:8787\"\nadmin_secret = \"admin\"",
        )
        .replace(
            "[secrets]\n",
            "[secrets]\nadmin = \"admin-token-for-tests\"\n",
        );
    let app = spawn_app(&config, &jira.url).await;
    let registered = app
        .http
        .post(app.url("/api/hooks"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"source": "repos", "repo": "acme/app"}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let hook: serde_json::Value = registered.json().await.unwrap();
    let secret = hook["secret"].as_str().unwrap();
    assert_eq!(hook["url"], "/hooks/repos/app");

    jira.issue("SOC-30", "To Do");
    jira.issue("DEVHOP-31", "In Progress");
    let base = format!("http://{}", app.address);
    for action in ["created", "published", "released"] {
        let body = json!({
            "action": action,
            "release": {"id": 77, "tag_name": "v2.0.0", "body": "SOC-30, DEVHOP-31", "html_url": "https://github.com/acme/app/releases/v2.0.0"},
            "repository": {"full_name": "acme/app"},
        })
        .to_string();
        let response = app
            .http
            .post(format!("{base}/hooks/repos/app"))
            .header("x-github-event", "release")
            .header("x-github-delivery", format!("release-77-{action}"))
            .header(
                "x-hub-signature-256",
                github_signature(secret, body.as_bytes()),
            )
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }
    app.deliver_all().await;
    assert_eq!(
        jira.all_moves(),
        vec![
            ("SOC-30".to_string(), "21".to_string()),
            ("DEVHOP-31".to_string(), "31".to_string())
        ]
    );
    let comments = jira
        .calls()
        .iter()
        .filter(|call| call.path.ends_with("/comment"))
        .count();
    assert_eq!(comments, 2);
}

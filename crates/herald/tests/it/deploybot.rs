//! deploybot's workflow end to end (scenarios D1–D12 of the reference): slash commands
//! and button presses answered in the HTTP response, channel ↔ repository and user links
//! in the store, GitHub deployments from commands, pull requests and pushes, CircleCI
//! triggered by deployment events (API v2, or v1.1 jobs), CircleCI's results as deployment
//! statuses, and one Slack message per deployment updated in place — against fakes of
//! Slack, GitHub and CircleCI.

use crate::fakes::circleci::{self, FakeCircleci};
use crate::fakes::github::{FakeGithub, Scripted};
use crate::fakes::slack::FakeSlack;
use crate::support::*;
use herald_store::model::DeliveryStatus;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const CIRCLECI_SECRET: &str = "circle-webhook-secret";
const SLACK_TOKEN: &str = "xoxb-deploybot";
const GITHUB_TOKEN: &str = "ghp-deploybot";
const CIRCLECI_TOKEN: &str = "circle-api-token";
const APP_ID: u64 = 424242;
const INSTALLATION: u64 = 5151;
const APP_KEY: &str = include_str!("testdata/github-app/test-only-private-key.pem");
const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

const CONFIG: &str = r#"
[secrets]
slack_signing = "8f742231b10e8888abcd99yyyzzz85a5"
github_webhook = "It's a Secret to Everybody"
circleci_webhook = "circle-webhook-secret"
slack_bot = "xoxb-deploybot"
github_token = "ghp-deploybot"
circleci_token = "circle-api-token"

[sources.slack]
kind = "slack"
secrets = ["slack_signing"]
respond_with = "deploybot"

[sources.github]
kind = "github"
secrets = ["github_webhook"]

[sources.circleci]
kind = "circleci"
secrets = ["circleci_webhook"]

[rules.deploybot]
sources = ["slack", "github", "circleci"]
events = ["slash_command", "pull_request.opened", "pull_request.synchronize", "pull_request.reopened", "push", "status", "deployment.created", "workflow-completed", "job-completed"]
actions = ["deploybot"]

[actions.deploybot]
kind = "deploybot"
slack = { token = "slack_bot", api_url = "{SLACK}" }
github = { token = "github_token", api_url = "{GITHUB}", web_url = "https://github.com" }
circleci = { token = "circleci_token", api_url = "{CIRCLECI}", trigger = "{TRIGGER}" }
retry = { schedule = ["10s"], jitter = 0 }

[storage]
path = "herald.db"
"#;

struct Bot {
    app: TestApp,
    github: FakeGithub,
    circleci: FakeCircleci,
    slack: FakeSlack,
}

impl Bot {
    async fn start(trigger: &str) -> Bot {
        Bot::start_on(trigger, None, false).await
    }

    /// On the PostgreSQL database at `postgres`, or SQLite; as a GitHub App when `app`.
    async fn start_on(trigger: &str, postgres: Option<&str>, app: bool) -> Bot {
        let github = FakeGithub::start(GITHUB_TOKEN).await;
        let circleci = FakeCircleci::start(CIRCLECI_TOKEN, "gh/acme/web").await;
        let slack = FakeSlack::start(SLACK_TOKEN, Duration::ZERO).await;
        let config = CONFIG
            .replace("{SLACK}", &slack.url)
            .replace("{GITHUB}", &github.url)
            .replace("{CIRCLECI}", &circleci.url)
            .replace("{TRIGGER}", trigger);
        let config = match app {
            true => config
                .replace(
                    "github = { token = \"github_token\",",
                    &format!("github = {{ app = {{ id = {APP_ID}, installation = {INSTALLATION}, private_key = \"app_key\" }},"),
                )
                .replace("[secrets]", &format!("[secrets]\napp_key = '''\n{APP_KEY}'''")),
            false => config,
        };
        let config = match postgres {
            Some(url) => config.replace(
                "[storage]\npath = \"herald.db\"",
                &format!("[storage]\nbackend = \"postgres\"\nurl = \"{url}\""),
            ),
            None => config,
        };
        let app = spawn_app(&config, "").await;
        github.app(APP_ID, INSTALLATION);
        github.use_clock(app.clock.clone());
        Bot {
            app,
            github,
            circleci,
            slack,
        }
    }

    /// POST a form to the Slack source, signed at `at` (unix seconds) with `secret`.
    async fn post_slack(&self, body: &str, at: i64, secret: &str) -> reqwest::Response {
        let base = format!("v0:{at}:{body}");
        let signature = format!(
            "v0={}",
            hex::encode(hmac_sha256(secret.as_bytes(), base.as_bytes()))
        );
        self.app
            .http
            .post(self.app.url("/hooks/slack"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", at.to_string())
            .header("x-slack-signature", signature)
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    /// `command text` from `user` in `channel`, answered as (status, body).
    async fn slash(&self, command: &str, channel: &str, user: &str, text: &str) -> (u16, Value) {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("token", "legacy-verification-token")
            .append_pair("team_id", "T1")
            .append_pair("channel_id", channel)
            .append_pair(
                "channel_name",
                if channel == "C1" { "web-dev" } else { "other" },
            )
            .append_pair("user_id", user)
            .append_pair("user_name", &user.to_lowercase())
            .append_pair("command", command)
            .append_pair("text", text)
            .append_pair("response_url", "https://hooks.slack.com/commands/T1/1/x")
            .append_pair("trigger_id", &format!("trigger-{}", uuid::Uuid::now_v7()))
            .finish();
        let response = self
            .post_slack(&body, self.app.clock_now().timestamp(), SLACK_SECRET)
            .await;
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn cimon(&self, channel: &str, user: &str, text: &str) -> Value {
        let (status, body) = self.slash("/cimon", channel, user, text).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The text of `/cimon text` from U1 in C1.
    async fn say(&self, text: &str) -> String {
        let body = self.cimon("C1", "U1", text).await;
        body["text"].as_str().unwrap().to_string()
    }

    /// A press of the `@login` button by `user`.
    async fn press(&self, user: &str, name: &str, login: &str) -> Value {
        let payload = json!({
            "type": "interactive_message",
            "actions": [{"name": "github_username", "type": "button", "value": login}],
            "callback_id": "acme/web:::C1",
            "team": {"id": "T1"},
            "channel": {"id": "C1", "name": "web-dev"},
            "user": {"id": user, "name": name},
            "action_ts": "1531420618.000001",
            "trigger_id": format!("trigger-{}", uuid::Uuid::now_v7()),
            "response_url": "https://hooks.slack.com/actions/T1/1/x",
        });
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &payload.to_string())
            .finish();
        let response = self
            .post_slack(&body, self.app.clock_now().timestamp(), SLACK_SECRET)
            .await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    async fn github_event(&self, event: &str, body: &Value) -> u16 {
        let delivery = uuid::Uuid::now_v7().to_string();
        let response = self
            .app
            .github(event, &delivery, &body.to_string(), GITHUB_SECRET)
            .await;
        response.status().as_u16()
    }

    async fn circleci_event(&self, body: &Value) -> u16 {
        let text = body.to_string();
        self.app
            .http
            .post(self.app.url("/hooks/circleci"))
            .header("content-type", "application/json")
            .header(
                "circleci-signature",
                circleci::signature(CIRCLECI_SECRET, text.as_bytes()),
            )
            .body(text)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// `setup acme/web` in C1 with basedomain example.com.
    async fn set_up(&self) {
        self.github.set_collaborators(&[]);
        self.say("setup acme/web").await;
        self.say("set basedomain example.com").await;
    }

    /// The deployments GitHub was asked to create.
    fn created(&self) -> Vec<Value> {
        self.github
            .calls()
            .into_iter()
            .filter(|call| call.path.ends_with("/deployments") && call.status == 201)
            .map(|call| call.body)
            .collect()
    }

    fn statuses(&self) -> Vec<(String, Value)> {
        self.github
            .calls()
            .into_iter()
            .filter(|call| call.path.ends_with("/statuses"))
            .map(|call| (call.path, call.body))
            .collect()
    }

    async fn events(&self) -> Vec<herald_store::model::Event> {
        let query = herald_store::model::EventQuery {
            limit: 100,
            ..Default::default()
        };
        self.app.store.list_events(&query).await.unwrap()
    }

    fn slack_calls(&self, method: &str) -> Vec<Value> {
        self.slack
            .calls()
            .into_iter()
            .filter(|call| call.method == method)
            .map(|call| call.body)
            .collect()
    }
}

fn pull_request(action: &str, repository: &str) -> Value {
    json!({
        "action": action,
        "number": 12,
        "pull_request": {
            "number": 12,
            "head": {"ref": "feature/x", "sha": SHA, "user": {"login": "alice"}},
        },
        "repository": {"full_name": repository},
    })
}

fn push(git_ref: &str) -> Value {
    json!({
        "ref": git_ref,
        "after": SHA,
        "head_commit": {"id": SHA, "author": {"name": "Alice", "username": "alice"}},
        "repository": {"full_name": "acme/web"},
    })
}

/// GitHub's `deployment` event for a deployment the fake created (`created` is its body
/// as sent, `id` the id the fake gave).
fn deployment_event(id: u64, created: &Value) -> Value {
    json!({
        "action": "created",
        "deployment": {
            "id": id,
            "sha": SHA,
            "ref": created["ref"],
            "environment": created["environment"],
            "payload": created["payload"],
            "creator": {"login": "herald-bot"},
        },
        "repository": {"full_name": "acme/web"},
    })
}

#[tokio::test]
async fn requests_with_a_bad_signature_or_an_old_timestamp_are_refused_and_help_is_answered_at_once()
 {
    let bot = Bot::start("pipeline").await;
    let body = "command=%2Fcimon&text=help&channel_id=C1&user_id=U1";
    let now = bot.app.clock_now().timestamp();
    let forged = bot.post_slack(body, now, "not-the-secret").await;
    assert_eq!(forged.status(), 401);
    let stale = bot.post_slack(body, now - 6 * 60, SLACK_SECRET).await;
    assert_eq!(stale.status(), 401);
    assert!(bot.events().await.is_empty());

    let started = Instant::now();
    let (status, reply) = bot.slash("/cimon", "C1", "U1", "").await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(status, 200);
    assert_eq!(reply["response_type"], "ephemeral");
    let help = reply["text"].as_str().unwrap();
    assert!(help.contains("/cimon setup owner/repo"), "{help}");
    assert!(
        help.contains("deploy <branch-or-tag> to <environment>"),
        "{help}"
    );
    // Stored like any other event.
    let events = bot.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "slash_command");

    let unknown = bot.say("frobnicate").await;
    assert!(
        unknown.starts_with("I didn't understand `frobnicate`"),
        "{unknown}"
    );
    let (status, other) = bot.slash("/other", "C1", "U1", "help").await;
    assert_eq!(status, 200);
    assert!(
        other["text"].as_str().unwrap().contains("not `/other`"),
        "{other}"
    );
}

#[tokio::test]
async fn setup_offers_a_button_per_unlinked_collaborator_and_one_channel_per_repository() {
    let bot = Bot::start("pipeline").await;
    bot.github.set_collaborators(&["alice", "bob"]);
    // alice is linked already, as U1.
    let linked = bot.press("U1", "alice", "alice").await;
    assert!(
        linked["text"]
            .as_str()
            .unwrap()
            .starts_with("Thanks, now I can @ you")
    );

    let reply = bot.cimon("C1", "U1", "setup acme/web").await;
    assert!(
        reply["text"]
            .as_str()
            .unwrap()
            .starts_with("Setting up `acme/web` in this channel"),
        "{reply}"
    );
    let attachment = &reply["attachments"][0];
    assert_eq!(attachment["callback_id"], "acme/web:::C1");
    assert_eq!(
        attachment["actions"],
        json!([{"name": "github_username", "text": "@bob", "type": "button", "value": "bob"}])
    );
    let channel = bot
        .app
        .store
        .get_ref("durable:deploybot-channel", "C1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(channel.data["repository"], "acme/web");
    assert_eq!(channel.data["channel_name"], "web-dev");

    // D5: bob links himself; a second claim of bob, or a second login for U2, is refused.
    let thanks = bot.press("U2", "bobby", "bob").await;
    assert!(
        thanks["text"]
            .as_str()
            .unwrap()
            .starts_with("Thanks, now I can @ you")
    );
    assert_eq!(thanks["replace_original"], false);
    let link = bot
        .app
        .store
        .get_ref("durable:deploybot-user", "bob")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        link.data,
        json!({"slack_user": "U2", "slack_name": "bobby"})
    );
    let taken = bot.press("U3", "mallory", "bob").await;
    assert!(
        taken["text"]
            .as_str()
            .unwrap()
            .contains("registered to someone else")
    );
    let twice = bot.press("U2", "bobby", "carol").await;
    assert!(
        twice["text"]
            .as_str()
            .unwrap()
            .contains("against another GitHub username")
    );
    assert!(
        bot.app
            .store
            .get_ref("durable:deploybot-user", "carol")
            .await
            .unwrap()
            .is_none()
    );

    // Nobody is left to link: hello says so.
    assert!(
        bot.say("hello")
            .await
            .contains("we already know each other")
    );

    // D4.
    assert!(
        bot.say("setup acme/web")
            .await
            .contains("already setup in this channel")
    );
    let elsewhere = bot.cimon("C2", "U1", "setup acme/web").await;
    assert!(
        elsewhere["text"]
            .as_str()
            .unwrap()
            .contains("different channel")
    );
    assert!(bot.say("setup acme/api").await.contains("different repo"));
    assert!(
        bot.say("setup acme")
            .await
            .starts_with("The repo name should be two parts")
    );
    assert!(
        bot.say("setup")
            .await
            .starts_with("You need to tell me which repo")
    );
    assert!(
        bot.app
            .store
            .get_ref("durable:deploybot-channel", "C2")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn settings_reset_and_goodbye_answer_as_deploybot_did_and_unset_works() {
    let bot = Bot::start("pipeline").await;
    assert!(bot.say("config").await.contains("not set up"));
    assert!(
        bot.say("set basedomain example.com")
            .await
            .contains("not set up")
    );
    bot.set_up().await;
    assert_eq!(
        bot.say("set basedomain example.com").await,
        "Great, I've set basedomain to example.com."
    );
    assert_eq!(
        bot.say("set url production www.example.com").await,
        "Great, I've set url to production www.example.com."
    );
    assert!(
        bot.say("set url production")
            .await
            .contains("needs two values")
    );
    assert!(
        bot.say("set colour blue")
            .await
            .starts_with("I don't know the setting `colour`")
    );
    assert!(
        bot.say("set urlpattern https://x/")
            .await
            .contains("{environment}")
    );
    let config = bot.say("get").await;
    assert!(config.contains("`acme/web`"), "{config}");
    assert!(config.contains("basedomain: `example.com`"), "{config}");
    assert!(
        config.contains("`production`: `www.example.com`"),
        "{config}"
    );

    assert_eq!(
        bot.say("unset url production").await,
        "Done, the URL of `production` is no longer set."
    );
    assert_eq!(
        bot.say("unset basedomain").await,
        "Done, `basedomain` is no longer set."
    );
    let config = bot.say("config").await;
    assert!(config.contains("basedomain: `--NOT SET--`"), "{config}");
    assert!(config.contains("url: none"), "{config}");

    // D7.
    let reset = bot.cimon("C1", "U1", "reset").await;
    assert_eq!(
        reset["text"],
        "Removed this channel's configuration for `acme/web`"
    );
    let again = bot.cimon("C1", "U1", "reset").await;
    assert_eq!(
        again,
        json!({"response_type": "in_channel", "text": "No config found for this channel"})
    );
    // The repository is free again.
    let elsewhere = bot.cimon("C2", "U1", "setup acme/web").await;
    assert!(
        elsewhere["text"]
            .as_str()
            .unwrap()
            .starts_with("Setting up")
    );

    bot.press("U1", "alice", "alice").await;
    assert_eq!(
        bot.say("goodbye").await,
        "Who did you say you were again? (Command successful)"
    );
    assert_eq!(
        bot.say("bye").await,
        "Nothing to forget; I couldn't find you in the DB."
    );
    assert!(
        bot.app
            .store
            .get_ref("durable:deploybot-user", "alice")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn deploy_runs_the_whole_workflow_with_one_slack_message_updated_in_place() {
    whole_workflow(&Bot::start("pipeline").await).await;
}

#[tokio::test]
async fn the_whole_workflow_keeps_its_state_on_postgres() {
    let test = "the_whole_workflow_keeps_its_state_on_postgres";
    let Some((_database, url)) = crate::postgres::FreshDatabase::create(test).await else {
        return;
    };
    let bot = Bot::start_on("pipeline", Some(&url), false).await;
    assert_eq!(bot.app.store.backend(), "postgres");
    whole_workflow(&bot).await;
    assert!(
        bot.say("setup acme/web")
            .await
            .contains("already setup in this channel")
    );
}

#[tokio::test]
async fn as_a_github_app_one_installation_token_serves_the_whole_workflow_until_it_expires() {
    let bot = Bot::start_on("pipeline", None, true).await;
    whole_workflow(&bot).await;
    // The collaborators read (by the reply), the deployment and its status: one token.
    let calls = bot.github.calls();
    assert!(
        calls
            .iter()
            .any(|call| call.path.ends_with("/collaborators"))
    );
    assert!(calls.iter().any(|call| call.path.ends_with("/statuses")));
    assert_eq!(bot.github.token_requests(), 1);
    for call in &calls {
        let authorization = call.headers.get("authorization").unwrap();
        assert_eq!(authorization, "Bearer ghs_1", "{}", call.path);
    }
    // An hour later the token has expired: the next call fetches a new one.
    bot.app.advance(3600.0);
    bot.github_event("push", &push("refs/heads/main")).await;
    bot.app.deliver_all().await;
    assert_eq!(bot.github.token_requests(), 2);
    let last = bot.github.calls().pop().unwrap();
    assert_eq!(last.headers.get("authorization").unwrap(), "Bearer ghs_2");
}

/// `deploy main to staging` through GitHub and CircleCI, with its one message.
async fn whole_workflow(bot: &Bot) {
    bot.set_up().await;
    bot.press("U1", "alice", "alice").await;

    let started = bot.cimon("C1", "U1", "deploy main to staging").await;
    assert_eq!(
        started,
        json!({"response_type": "in_channel", "text": "Deployment of `refs/heads/main` to `staging` has started!"})
    );
    bot.app.deliver_all().await;
    let created = bot.created();
    assert_eq!(
        created.len(),
        1,
        "{:?} {:?}",
        bot.github.calls(),
        bot.app.deliveries().await
    );
    assert_eq!(created[0]["environment"], "staging");
    assert_eq!(created[0]["ref"], "main");
    assert_eq!(
        created[0]["description"],
        "Manually triggered from Slack via herald with command `main to staging`"
    );
    assert_eq!(created[0]["payload"]["url"], "https://staging.example.com/");
    let posts = bot.slack_calls("chat.postMessage");
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0]["channel"], "C1");
    let ts = bot.slack.roots("C1")[0].0.clone();
    let text = bot.slack.text_of(&ts).unwrap();
    assert!(
        text.contains("Deployment of `main` to *staging*: created"),
        "{text}"
    );
    assert!(text.contains("requested by <@U1>"), "{text}");

    // GitHub announces the deployment: CircleCI builds it, the message says so.
    let id = 1001;
    assert_eq!(
        bot.github_event("deployment", &deployment_event(id, &created[0]))
            .await,
        202
    );
    bot.app.deliver_all().await;
    let triggers = bot.circleci.calls();
    assert_eq!(triggers.len(), 1);
    assert_eq!(triggers[0].path, "/api/v2/project/gh/acme/web/pipeline");
    assert_eq!(
        triggers[0].body,
        json!({
            "branch": "main",
            "parameters": {
                "deploy_environment": "staging",
                "deploy_version": "staging-0123456789",
                "deploy_subdomain": "staging",
                "deploy_url": "https://staging.example.com/",
                "deploy_id": "1001",
            }
        })
    );
    let text = bot.slack.text_of(&ts).unwrap();
    assert!(text.contains("staging*: building"), "{text}");
    assert!(
        text.contains("commit <https://github.com/acme/web/commit/"),
        "{text}"
    );

    // CircleCI's signed workflow-completed: one deployment status, the message final.
    let pipeline_id = "5034460f-c7c4-4c43-9457-de07e2000001";
    let completed = circleci::workflow_completed("gh/acme/web", pipeline_id, 101, "success");
    assert_eq!(bot.circleci_event(&completed).await, 202);
    bot.app.deliver_all().await;
    let statuses = bot.statuses();
    assert_eq!(statuses.len(), 1, "{statuses:?}");
    assert_eq!(
        statuses[0].0,
        format!("/repos/acme/web/deployments/{id}/statuses")
    );
    assert_eq!(statuses[0].1["state"], "success");
    assert_eq!(
        statuses[0].1["environment_url"],
        "https://staging.example.com/"
    );
    assert_eq!(statuses[0].1["log_url"], completed["workflow"]["url"]);
    let text = bot.slack.text_of(&ts).unwrap();
    assert!(
        text.starts_with(":white_check_mark: Deployment of `main` to *staging*: succeeded"),
        "{text}"
    );
    assert!(text.contains("<@U1>"), "{text}");
    assert_eq!(
        bot.slack_calls("chat.postMessage").len(),
        1,
        "never a second post"
    );
    assert_eq!(bot.slack_calls("chat.update").len(), 2);
    for delivery in bot.app.deliveries().await {
        assert_eq!(delivery.status, DeliveryStatus::Succeeded, "{delivery:?}");
    }

    let list = bot.say("list").await;
    assert!(
        list.starts_with("Recent deployments of `acme/web`"),
        "{list}"
    );
    assert!(
        list.contains("`staging` ← `main`: succeeded · by <@U1>"),
        "{list}"
    );
    assert!(list.contains("<https://staging.example.com/|"), "{list}");
}

#[tokio::test]
async fn deploy_commands_are_checked_before_anything_is_sent() {
    let bot = Bot::start("pipeline").await;
    assert!(
        bot.say("deploy main to staging")
            .await
            .contains("not set up")
    );
    // Setting the channel up later does not make the earlier command deploy.
    bot.app.advance(1.0);
    bot.set_up().await;
    let production = bot
        .slash("/deploy", "C1", "U1", "v1.2.0 to production")
        .await
        .1;
    assert_eq!(
        production["text"],
        "Deployment of `refs/tags/v1.2.0` to `production` has started!"
    );
    assert!(
        bot.say("deploy 1.2 to production")
            .await
            .starts_with("That environment doesn't get built from that ref")
    );
    assert!(
        bot.say("deploy main to pr")
            .await
            .starts_with("I don't recognise that environment name")
    );
    assert!(
        bot.say("deploy main staging")
            .await
            .starts_with("You must specify what and where to deploy")
    );
    let default = bot.cimon("C1", "U1", "deploy staging").await;
    assert_eq!(
        default["text"],
        "Deployment of `refs/heads/main` to `staging` has started!"
    );
    bot.app.deliver_all().await;
    let created = bot.created();
    let refs: Vec<_> = created
        .iter()
        .map(|c| (c["ref"].clone(), c["environment"].clone()))
        .collect();
    assert_eq!(
        refs,
        vec![
            (json!("v1.2.0"), json!("production")),
            (json!("main"), json!("staging"))
        ]
    );
}

#[tokio::test]
async fn pull_requests_and_pushes_create_deployments_as_deploybot_routed_them() {
    let bot = Bot::start("pipeline").await;
    bot.set_up().await;
    bot.press("U1", "alice", "alice").await;
    // D8: ignored without a call.
    for (action, repository) in [("closed", "acme/web"), ("opened", "acme/other")] {
        assert_eq!(
            bot.github_event("pull_request", &pull_request(action, repository))
                .await,
            202
        );
    }
    bot.app.deliver_all().await;
    assert!(bot.created().is_empty());

    assert_eq!(
        bot.github_event("pull_request", &pull_request("opened", "acme/web"))
            .await,
        202
    );
    bot.app.deliver_all().await;
    let created = bot.created();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["environment"], "pr12");
    assert_eq!(created[0]["ref"], "feature/x");
    assert_eq!(created[0]["description"], "Automatically created by herald");
    assert_eq!(created[0]["payload"]["prNumber"], 12);
    assert_eq!(created[0]["payload"]["url"], "https://pr12.example.com/");
    assert_eq!(created[0]["transient_environment"], true);
    let ts = bot.slack.roots("C1")[0].0.clone();
    let text = bot.slack.text_of(&ts).unwrap();
    assert!(
        text.contains("commit <https://github.com/acme/web/commit/"),
        "{text}"
    );
    assert!(
        text.contains("> by <@U1> · <https://github.com/acme/web/pull/12|#12>"),
        "{text}"
    );

    // D9.
    for git_ref in [
        "refs/heads/main",
        "refs/heads/master",
        "refs/heads/release/v1.3",
        "refs/tags/v1.3.0",
        "refs/tags/1.3.4",
        "refs/heads/feature/y",
        "refs/tags/latest",
    ] {
        assert_eq!(bot.github_event("push", &push(git_ref)).await, 202);
    }
    bot.app.deliver_all().await;
    let routed: Vec<_> = bot.created()[1..]
        .iter()
        .map(|c| {
            (
                c["ref"].as_str().unwrap().to_string(),
                c["environment"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: Vec<_> = [
        ("main", "preview"),
        ("master", "preview"),
        ("release/v1.3", "test"),
        ("v1.3.0", "production"),
        ("1.3.4", "production"),
    ]
    .iter()
    .map(|(r, e)| (r.to_string(), e.to_string()))
    .collect();
    assert_eq!(routed, expected);
    assert_eq!(
        bot.created()[1]["payload"]["url"],
        "https://preview.example.com/"
    );
}

#[tokio::test]
async fn job_triggers_send_deploybots_build_parameters_and_job_results_become_statuses() {
    let bot = Bot::start("job").await;
    bot.set_up().await;
    bot.github_event("pull_request", &pull_request("opened", "acme/web"))
        .await;
    bot.app.deliver_all().await;
    let created = bot.created();
    bot.github_event("deployment", &deployment_event(1001, &created[0]))
        .await;
    bot.app.deliver_all().await;
    let calls = bot.circleci.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].path, "/api/v1.1/project/github/acme/web");
    assert_eq!(
        calls[0].body,
        json!({
            "build_parameters": {
                "ENVIRONMENT": "pr12",
                "VERSION": "pr12-0123456789",
                "SUBDOMAIN": "pr12",
                "URL": "https://pr12.example.com/",
            },
            "revision": SHA,
        })
    );
    let record = bot
        .app
        .store
        .list_refs("deploybot-deployment", "acme/web")
        .await
        .unwrap();
    assert_eq!(record[0].data["build_number"], 171);
    assert_eq!(
        record[0].data["build_url"],
        "https://circleci.com/gh/acme/web/171"
    );

    // D11: an unknown build and a payload without an outcome send nothing.
    bot.circleci_event(&circleci::job_completed("gh/acme/web", 999, "success"))
        .await;
    bot.app.deliver_all().await;
    assert!(bot.statuses().is_empty());
    bot.circleci_event(&circleci::job_completed("gh/acme/web", 171, "failed"))
        .await;
    bot.app.deliver_all().await;
    let statuses = bot.statuses();
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0].1["state"], "failure");
    assert_eq!(
        statuses[0].1["environment_url"],
        "https://pr12.example.com/"
    );
    let ts = bot.slack.roots("C1")[0].0.clone();
    assert!(
        bot.slack
            .text_of(&ts)
            .unwrap()
            .starts_with(":x: Deployment of `feature/x` to *pr12*: failed")
    );

    // Production: the tag, no SUBDOMAIN.
    bot.github_event("push", &push("refs/tags/v1.3.0")).await;
    bot.app.deliver_all().await;
    let created = bot.created();
    bot.github_event("deployment", &deployment_event(1002, &created[1]))
        .await;
    bot.app.deliver_all().await;
    let calls = bot.circleci.calls();
    assert_eq!(
        calls[1].body,
        json!({
            "build_parameters": {"ENVIRONMENT": "production", "VERSION": "v1.3.0", "URL": "https://production.example.com/"},
            "tag": "v1.3.0",
        })
    );
}

#[tokio::test]
async fn a_deployment_refused_for_failing_checks_waits_for_a_successful_status() {
    let bot = Bot::start("pipeline").await;
    bot.set_up().await;
    bot.github.script([Scripted {
        status: 409,
        headers: vec![],
        body: json!({"message": "Conflict: Commit status checks failed for main.", "documentation_url": "https://docs.github.com/rest/deployments/deployments#create-a-deployment"}),
    }]);
    bot.github_event("push", &push("refs/heads/main")).await;
    bot.app.deliver_all().await;
    assert!(bot.created().is_empty());
    let ts = bot.slack.roots("C1")[0].0.clone();
    assert!(
        bot.slack
            .text_of(&ts)
            .unwrap()
            .contains("preview*: waiting for status checks")
    );
    for delivery in bot.app.deliveries().await {
        assert_eq!(delivery.status, DeliveryStatus::Succeeded);
    }

    let pending = json!({"sha": SHA, "state": "pending", "branches": [{"name": "main"}], "repository": {"full_name": "acme/web"}});
    bot.github_event("status", &pending).await;
    bot.app.deliver_all().await;
    assert!(bot.created().is_empty());
    let success = json!({"sha": SHA, "state": "success", "branches": [{"name": "main"}], "repository": {"full_name": "acme/web"}});
    bot.github_event("status", &success).await;
    bot.app.deliver_all().await;
    let created = bot.created();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["environment"], "preview");
    assert!(
        bot.slack
            .text_of(&ts)
            .unwrap()
            .contains("preview*: created")
    );
    assert_eq!(bot.slack_calls("chat.postMessage").len(), 1);
    // Nothing waits any more: another success creates nothing.
    bot.github_event("status", &success).await;
    bot.app.deliver_all().await;
    assert_eq!(bot.created().len(), 1);
}

#[tokio::test]
async fn a_deployment_announced_before_herald_recorded_it_waits_for_its_record() {
    let bot = Bot::start("pipeline").await;
    bot.set_up().await;
    let created =
        json!({"ref": "main", "environment": "staging", "payload": {"herald": "acme/web#not-yet"}});
    assert_eq!(
        bot.github_event("deployment", &deployment_event(1001, &created))
            .await,
        202
    );
    bot.app.deliver_all().await;
    assert!(bot.circleci.calls().is_empty());
    let delivery = bot.app.deliveries().await.remove(0);
    assert_eq!(
        delivery.ordering_key.as_deref(),
        Some("deploybot:actions.deploybot:acme/web")
    );
    assert_eq!(delivery.status, DeliveryStatus::Pending, "{delivery:?}");
    let error = delivery.last_error.unwrap_or_default();
    assert!(error.contains("its record is not written yet"), "{error}");
}

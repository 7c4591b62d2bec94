//! The slash command and its buttons, answered in the HTTP response (Slack shows the
//! answer to the user; it waits 3 seconds for it). Each command reads and changes the
//! state in refs; pairs are written with `Store::change_refs` on the condition that
//! neither side is taken, so two channels racing for one repository cannot both win.
//! `deploy` only answers here: the deployment itself goes through the outbox (`plan.rs`).

use super::DeployBot;
use super::commands::{self, Command};
use super::routing::short_ref;
use super::state::{self, Channel, Deployment, Project, SlackLink, UserLink};
use crate::action::{Responder, Responding};
use crate::ingress::source::Reply;
use async_trait::async_trait;
use herald_store::model::{RefChange, RefWrite};
use serde_json::{Value, json};
use std::time::Duration;

/// The time a reply may spend reading GitHub's collaborators: Slack gives up at 3 s.
const COLLABORATORS_TIMEOUT: Duration = Duration::from_millis(2000);
/// Collaborators read per page, and pages at most.
const PER_PAGE: usize = 100;
const MAX_PAGES: usize = 5;
/// Deployments `list` shows.
const LISTED: usize = 10;

/// The button a collaborator presses to say who they are.
const LOGIN_BUTTON: &str = "github_username";

#[async_trait]
impl Responder for DeployBot {
    async fn respond(&self, request: &Responding<'_>) -> Option<Reply> {
        let chat = Chat { bot: self, request };
        let answer = match request.event_type {
            "slash_command" => chat.command().await,
            "interactive_message" | "block_actions" => chat.button().await,
            _ => return None,
        };
        Some(answer.unwrap_or_else(|error| {
            tracing::error!(error = %error, "deploybot could not answer a command");
            ephemeral(&format!(
                "Something went wrong on herald's side ({error}); nothing was changed by the failing step. Try again in a moment."
            ))
        }))
    }
}

type Answer = Result<Reply, String>;

fn reply(response_type: &str, text: &str) -> Reply {
    Reply {
        status: 200,
        body: json!({ "response_type": response_type, "text": text }),
    }
}

fn ephemeral(text: &str) -> Reply {
    reply("ephemeral", text)
}

fn in_channel(text: &str) -> Reply {
    reply("in_channel", text)
}

fn write(kind: &str, key: &str, data: Value) -> RefWrite {
    RefWrite {
        kind: kind.to_string(),
        key: key.to_string(),
        data,
        group: None,
        delete: false,
    }
}

fn delete(kind: &str, key: &str) -> RefWrite {
    RefWrite {
        delete: true,
        ..write(kind, key, Value::Null)
    }
}

fn name(kind: &str, key: &str) -> (String, String) {
    (kind.to_string(), key.to_string())
}

struct Chat<'a, 'r> {
    bot: &'a DeployBot,
    request: &'a Responding<'r>,
}

impl Chat<'_, '_> {
    fn payload(&self) -> &Value {
        self.request.payload
    }

    fn field(&self, name: &str) -> &str {
        self.payload()[name].as_str().unwrap_or_default()
    }

    fn command_name(&self) -> &str {
        &self.bot.command
    }

    async fn get<T: for<'de> serde::Deserialize<'de>>(
        &self,
        kind: &str,
        key: &str,
    ) -> Result<Option<T>, String> {
        let found = self
            .request
            .store
            .get_ref(kind, key)
            .await
            .map_err(|error| error.to_string())?;
        Ok(found.and_then(|r| state::read(&r.data)))
    }

    async fn change(
        &self,
        absent: Vec<(String, String)>,
        present: Vec<(String, String)>,
        writes: Vec<RefWrite>,
    ) -> Result<bool, String> {
        let change = RefChange {
            absent,
            present,
            writes,
            now: self.request.now,
        };
        self.request
            .store
            .change_refs(&change)
            .await
            .map_err(|error| error.to_string())
    }

    async fn command(&self) -> Answer {
        let name = self.field("command");
        let text = self.field("text");
        let command = self.command_name();
        let Some(parsed) = commands::parse(name, command, text) else {
            return Ok(ephemeral(&format!(
                "herald answers `{command}` (and `/deploy`), not `{name}`: check the slash command's name in the Slack app and in herald's config."
            )));
        };
        match parsed {
            Command::Help => Ok(ephemeral(&commands::help(command, &self.bot.routing))),
            Command::Setup(repository) => self.setup(repository).await,
            Command::Hello => self.hello().await,
            Command::Goodbye => self.goodbye().await,
            Command::Reset => self.reset().await,
            Command::Set(args) => self.set(&args).await,
            Command::Unset(args) => self.unset(&args).await,
            Command::Config => self.config().await,
            Command::Deploy(args) => self.deploy(&args).await,
            Command::List => self.list().await,
            Command::Unknown(word) => Ok(ephemeral(&format!(
                "{}\n\n{}",
                commands::not_understood(command, word),
                commands::help(command, &self.bot.routing)
            ))),
        }
    }

    fn channel_id(&self) -> &str {
        self.field("channel_id")
    }

    async fn channel(&self) -> Result<Option<Channel>, String> {
        self.get(state::CHANNEL, self.channel_id()).await
    }

    async fn setup(&self, repository: Option<&str>) -> Answer {
        let command = self.command_name();
        let Some(repository) = repository else {
            return Ok(ephemeral(&commands::setup_usage(command)));
        };
        let parts: Vec<&str> = repository.split('/').collect();
        if parts.len() != 2 || parts.iter().any(|part| part.is_empty()) {
            return Ok(ephemeral(&commands::setup_two_parts(command)));
        }
        let channel_id = self.channel_id();
        let channel_name = self.payload()["channel_name"].as_str().map(str::to_string);
        let channel = Channel {
            repository: repository.to_string(),
            channel_name: channel_name.clone(),
            settings: Default::default(),
            set_up_at: Some(self.request.now.to_rfc3339()),
        };
        let project = Project {
            channel: channel_id.to_string(),
            channel_name,
        };
        let written = self
            .change(
                vec![
                    name(state::CHANNEL, channel_id),
                    name(state::REPOSITORY, repository),
                ],
                vec![],
                vec![
                    write(state::CHANNEL, channel_id, state::value(&channel)),
                    write(state::REPOSITORY, repository, state::value(&project)),
                ],
            )
            .await?;
        if !written {
            let taken = self.get::<Project>(state::REPOSITORY, repository).await?;
            let text = match taken {
                Some(project) if project.channel == channel_id => commands::ALREADY_HERE,
                Some(_) => commands::OTHER_CHANNEL,
                None => commands::OTHER_REPOSITORY,
            };
            return Ok(ephemeral(text));
        }
        let text = commands::set_up(command, repository);
        self.connect_users(repository, &text, &text).await
    }

    async fn hello(&self) -> Answer {
        let Some(channel) = self.channel().await? else {
            return Ok(ephemeral(&commands::not_set_up(self.command_name())));
        };
        self.connect_users(
            &channel.repository,
            commands::HELLO,
            commands::HELLO_NOBODY_LEFT,
        )
        .await
    }

    /// `text` with a button per collaborator not linked yet, or `nobody_left`.
    async fn connect_users(&self, repository: &str, text: &str, nobody_left: &str) -> Answer {
        let logins = match self.collaborators(repository).await {
            Ok(logins) => logins,
            Err(error) => {
                let unreadable = commands::collaborators_unreadable(self.command_name(), &error);
                return Ok(ephemeral(&format!("{text}\n{unreadable}")));
            }
        };
        // One read of the links, not one per collaborator: the reply has 3 s in all.
        let linked: std::collections::BTreeSet<String> = self
            .request
            .store
            .list_refs_of_kind(state::USER)
            .await
            .map_err(|error| error.to_string())?
            .into_iter()
            .map(|link| link.key)
            .collect();
        let unlinked: Vec<String> = logins
            .into_iter()
            .filter(|login| !linked.contains(login))
            .collect();
        if unlinked.is_empty() {
            return Ok(ephemeral(nobody_left));
        }
        let buttons: Vec<Value> = unlinked
            .iter()
            .map(|login| {
                json!({
                    "name": LOGIN_BUTTON,
                    "text": format!("@{login}"),
                    "type": "button",
                    "value": login,
                })
            })
            .collect();
        let mut answer = ephemeral(text);
        answer.body["attachments"] = json!([{
            "text": commands::PICK_LOGIN,
            "fallback": commands::PICK_FALLBACK,
            "callback_id": format!("{repository}:::{}", self.channel_id()),
            "color": "#000",
            "attachment_type": "default",
            "actions": buttons,
        }]);
        Ok(answer)
    }

    /// The repository's collaborators' logins (GitHub REST, every page within the time).
    async fn collaborators(&self, repository: &str) -> Result<Vec<String>, String> {
        let github = &self.bot.github.endpoint;
        let read = async {
            let authorization = github
                .auth
                .header(self.request.http, self.request.now)
                .await?;
            let mut logins = Vec::new();
            let mut next = Some(format!(
                "{}/repos/{repository}/collaborators?per_page={PER_PAGE}",
                github.api_url.trim_end_matches('/')
            ));
            let mut pages = 0;
            while let Some(url) = next.take() {
                let response = self
                    .request
                    .http
                    .get(&url)
                    .header("authorization", &authorization)
                    .header("accept", crate::integrations::github::api::ACCEPT)
                    .header("x-github-api-version", &github.api_version)
                    .send()
                    .await
                    .map_err(|error| format!("cannot reach GitHub: {error}"))?;
                let status = response.status();
                if status == reqwest::StatusCode::UNAUTHORIZED {
                    github.auth.refused();
                }
                next = next_page(response.headers());
                let body: Value = response.json().await.map_err(|error| {
                    format!("GitHub answered with something other than JSON: {error}")
                })?;
                if !status.is_success() {
                    let message = body["message"].as_str().unwrap_or("no message");
                    return Err(format!("GitHub answered {status}: {message}"));
                }
                logins.extend(
                    body.as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|user| user["login"].as_str().map(str::to_string)),
                );
                pages += 1;
                if pages == MAX_PAGES {
                    break;
                }
            }
            Ok(logins)
        };
        tokio::time::timeout(COLLABORATORS_TIMEOUT, read)
            .await
            .map_err(|_| "GitHub did not answer in time".to_string())?
    }

    /// A button press: the presser says which GitHub login is theirs.
    async fn button(&self) -> Answer {
        let payload = self.payload();
        let action = &payload["actions"][0];
        let button = action["name"].as_str().or(action["action_id"].as_str());
        if button != Some(LOGIN_BUTTON) {
            return Ok(ephemeral("That button is not one of mine."));
        }
        let login = action["value"].as_str().unwrap_or_default();
        let user = payload["user"]["id"].as_str().unwrap_or_default();
        if login.is_empty() || user.is_empty() {
            return Ok(ephemeral(
                "The button press names no GitHub login or Slack user.",
            ));
        }
        let slack_name = payload["user"]["name"]
            .as_str()
            .or(payload["user"]["username"].as_str())
            .map(str::to_string);
        let link = UserLink {
            slack_user: user.to_string(),
            slack_name,
        };
        let back = SlackLink {
            login: login.to_string(),
        };
        let written = self
            .change(
                vec![name(state::USER, login), name(state::SLACK_USER, user)],
                vec![],
                vec![
                    write(state::USER, login, state::value(&link)),
                    write(state::SLACK_USER, user, state::value(&back)),
                ],
            )
            .await?;
        if written {
            return Ok(pressed(commands::LINKED));
        }
        let text = match self.get::<UserLink>(state::USER, login).await? {
            Some(link) if link.slack_user == user => commands::LINKED,
            Some(_) => commands::LOGIN_TAKEN,
            None => commands::ALREADY_LINKED,
        };
        Ok(pressed(text))
    }

    async fn goodbye(&self) -> Answer {
        let user = self.field("user_id");
        let Some(link) = self.get::<SlackLink>(state::SLACK_USER, user).await? else {
            return Ok(ephemeral(commands::NOTHING_TO_FORGET));
        };
        let removed = self
            .change(
                vec![],
                vec![name(state::SLACK_USER, user)],
                vec![
                    delete(state::SLACK_USER, user),
                    delete(state::USER, &link.login),
                ],
            )
            .await?;
        Ok(ephemeral(match removed {
            true => commands::FORGOTTEN,
            false => commands::NOTHING_TO_FORGET,
        }))
    }

    async fn reset(&self) -> Answer {
        let channel_id = self.channel_id();
        let Some(channel) = self.channel().await? else {
            return Ok(in_channel(commands::NO_CONFIG));
        };
        let removed = self
            .change(
                vec![],
                vec![name(state::CHANNEL, channel_id)],
                vec![
                    delete(state::CHANNEL, channel_id),
                    delete(state::REPOSITORY, &channel.repository),
                ],
            )
            .await?;
        Ok(match removed {
            true => ephemeral(&commands::reset(&channel.repository)),
            false => in_channel(commands::NO_CONFIG),
        })
    }

    /// Write the channel's settings as `change` leaves them.
    async fn settings(&self, change: impl FnOnce(&mut state::Settings)) -> Result<bool, String> {
        let channel_id = self.channel_id();
        let Some(mut channel) = self.channel().await? else {
            return Ok(false);
        };
        change(&mut channel.settings);
        self.change(
            vec![],
            vec![name(state::CHANNEL, channel_id)],
            vec![write(state::CHANNEL, channel_id, state::value(&channel))],
        )
        .await
    }

    async fn set(&self, args: &[&str]) -> Answer {
        let command = self.command_name();
        let Some((&key, values)) = args.split_first() else {
            return Ok(ephemeral(&commands::set_help(command)));
        };
        let Some(&(_, arity)) = commands::SETTINGS.iter().find(|(name, _)| *name == key) else {
            return Ok(ephemeral(&commands::unknown_setting(command, key)));
        };
        if values.len() != arity {
            return Ok(ephemeral(&commands::wrong_arity(command, key, arity)));
        }
        if key == "urlpattern" && !values[0].contains("{environment}") {
            return Ok(ephemeral(commands::PATTERN_NEEDS_ENVIRONMENT));
        }
        let value = values[0].to_string();
        let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        let written = self
            .settings(|settings| match key {
                "basedomain" => settings.basedomain = Some(value),
                "urlpattern" => settings.urlpattern = Some(value),
                "urlseparator" => settings.urlseparator = Some(value),
                _ => {
                    settings.url.insert(values[0].clone(), values[1].clone());
                }
            })
            .await?;
        Ok(ephemeral(&match written {
            true => commands::was_set(key, &args[1..]),
            false => commands::not_set_up(command),
        }))
    }

    async fn unset(&self, args: &[&str]) -> Answer {
        let command = self.command_name();
        let (key, environment) = match args {
            [key] => (*key, None),
            ["url", environment] => ("url", Some(*environment)),
            [] => return Ok(ephemeral(&commands::set_help(command))),
            [key, ..] => return Ok(ephemeral(&commands::wrong_arity(command, key, 1))),
        };
        if !commands::SETTINGS.iter().any(|(name, _)| *name == key) {
            return Ok(ephemeral(&commands::unknown_setting(command, key)));
        }
        let written = self
            .settings(|settings| match (key, environment) {
                ("basedomain", _) => settings.basedomain = None,
                ("urlpattern", _) => settings.urlpattern = None,
                ("urlseparator", _) => settings.urlseparator = None,
                (_, Some(environment)) => {
                    settings.url.remove(environment);
                }
                (_, None) => settings.url.clear(),
            })
            .await?;
        let what = match environment {
            Some(environment) => format!("the URL of `{environment}`"),
            None => format!("`{key}`"),
        };
        Ok(ephemeral(&match written {
            true => commands::was_unset(&what),
            false => commands::not_set_up(command),
        }))
    }

    async fn config(&self) -> Answer {
        let Some(channel) = self.channel().await? else {
            return Ok(ephemeral(&commands::not_set_up(self.command_name())));
        };
        let settings = &channel.settings;
        let shown = |value: &Option<String>, default: &str| match value {
            Some(value) => format!("`{value}`"),
            None => format!("`{default}` (the default)"),
        };
        let urls = match settings.url.is_empty() {
            true => "none".to_string(),
            false => settings
                .url
                .iter()
                .map(|(environment, domain)| format!("`{environment}`: `{domain}`"))
                .collect::<Vec<_>>()
                .join(", "),
        };
        let text = format!(
            "This channel is currently set up for `{}`\nbasedomain: {}\nurlpattern: {}\nurlseparator: {}\nurl: {urls}",
            channel.repository,
            match &settings.basedomain {
                Some(domain) => format!("`{domain}`"),
                None => "`--NOT SET--`".to_string(),
            },
            shown(&settings.urlpattern, state::Settings::DEFAULT_URL_PATTERN),
            shown(&settings.urlseparator, "."),
        );
        Ok(ephemeral(&text))
    }

    async fn deploy(&self, args: &[&str]) -> Answer {
        let command = self.command_name();
        if self.channel().await?.is_none() {
            return Ok(ephemeral(&commands::not_set_up(command)));
        }
        Ok(match self.bot.routing.deploy(args) {
            Ok(request) => in_channel(&commands::deploy_started(
                &request.git_ref,
                &request.environment,
            )),
            Err(refusal) => ephemeral(&commands::deploy_refused(
                command,
                &refusal,
                &self.bot.routing,
            )),
        })
    }

    async fn list(&self) -> Answer {
        let Some(channel) = self.channel().await? else {
            return Ok(ephemeral(&commands::not_set_up(self.command_name())));
        };
        let found = self
            .request
            .store
            .list_refs(state::DEPLOYMENT, &channel.repository)
            .await
            .map_err(|error| error.to_string())?;
        let mut lines = Vec::new();
        for stored in found.iter().take(LISTED) {
            let Some(record) = state::read::<Deployment>(&stored.data) else {
                continue;
            };
            lines.push(self.listed(&record, stored.updated_at).await?);
        }
        if lines.is_empty() {
            return Ok(ephemeral(&format!(
                "No deployments of `{}` yet.",
                channel.repository
            )));
        }
        Ok(ephemeral(&format!(
            "Recent deployments of `{}`:\n{}",
            channel.repository,
            lines.join("\n")
        )))
    }

    /// One deployment in `list`: environment, ref, status, who, when and links.
    async fn listed(
        &self,
        record: &Deployment,
        updated_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<String, String> {
        let mut who = Vec::new();
        if let Some(user) = &record.requested_by {
            who.push(format!("<@{user}>"));
        }
        if let Some(login) = &record.author {
            let link = self.get::<UserLink>(state::USER, login).await?;
            who.push(super::message::mention(
                link.as_ref().map(|l| l.slack_user.as_str()),
                login,
            ));
        }
        let mut line = format!(
            "• `{}` ← `{}`: {}",
            record.environment,
            short_ref(&record.git_ref),
            record.status.word()
        );
        if !who.is_empty() {
            line.push_str(&format!(" · by {}", who.join(", ")));
        }
        line.push_str(&format!(
            " · <!date^{}^{{date_short_pretty}} {{time}}|{}>",
            updated_at.timestamp(),
            updated_at.format("%Y-%m-%d %H:%M UTC")
        ));
        if let Some(build) = record.build_link() {
            line.push_str(&format!(" · <{build}|build>"));
        }
        if let Some(url) = &record.url {
            line.push_str(&format!(" · <{url}|{url}>"));
        }
        Ok(line)
    }
}

/// The answer to a button press: shown to the presser, the buttons left in place for the
/// others.
fn pressed(text: &str) -> Reply {
    let mut answer = ephemeral(text);
    answer.body["replace_original"] = json!(false);
    answer
}

/// The `rel="next"` URL of GitHub's `Link` header.
fn next_page(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let link = headers.get("link")?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, rel) = part.split_once(';')?;
        rel.contains("rel=\"next\"").then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_page_is_read_from_githubs_link_header() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            "link",
            "<https://api.github.com/repositories/1/collaborators?per_page=100&page=2>; rel=\"next\", <https://api.github.com/repositories/1/collaborators?per_page=100&page=3>; rel=\"last\"".parse().unwrap(),
        );
        assert_eq!(
            next_page(&headers).as_deref(),
            Some("https://api.github.com/repositories/1/collaborators?per_page=100&page=2")
        );
        assert_eq!(next_page(&reqwest::header::HeaderMap::new()), None);
    }
}

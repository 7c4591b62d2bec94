//! What each event asks of a deployment, as steps through the outbox. Every plan is at
//! most two steps, numbered the same on every attempt so a retry resumes after what was
//! sent: step 0 is the provider's (create the GitHub deployment, trigger CircleCI, report
//! the status) and step 1 posts or updates the deployment's Slack message with what step
//! 0 answered. Both merge what they learn into the deployment's record.

use super::DeployBot;
use super::commands::{self, Command};
use super::message::{self, People};
use super::routing::{self, PULL_REQUEST, github_environment};
use super::state::{self, Channel, Deployment, Project, Status, UserLink};
use crate::action::{
    ActionInput, Earlier, Follow, Followed, Plan, PlanError, PlannedRequest, RefKey, Remember,
};
use bytes::Bytes;
use serde_json::{Map, Value, json};

/// An event as a plan reads it.
struct Event {
    id: String,
    kind: String,
    /// When it was received (RFC 3339).
    received_at: String,
    payload: Value,
}

impl Event {
    fn of(input: &ActionInput<'_>) -> Result<Event, PlanError> {
        let read = |name: &str| -> Result<Value, PlanError> {
            let value = input
                .context
                .get_attr(name)
                .map_err(|error| PlanError::Invalid(error.to_string()))?;
            serde_json::to_value(&value).map_err(|error| PlanError::Invalid(error.to_string()))
        };
        let meta = read("meta")?;
        Ok(Event {
            id: text(&meta["id"]).unwrap_or_default(),
            kind: text(&meta["type"]).unwrap_or_default(),
            received_at: text(&meta["received_at"]).unwrap_or_default(),
            payload: read("event")?,
        })
    }
}

fn text(value: &Value) -> Option<String> {
    value.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

fn invalid(error: String) -> PlanError {
    PlanError::Invalid(error)
}

pub async fn plan(bot: &DeployBot, input: &ActionInput<'_>) -> Result<Plan, PlanError> {
    let event = Event::of(input)?;
    let planner = Planner { bot, input };
    // GitHub's types carry the action (`pull_request.opened`): the event name decides.
    match event.kind.split('.').next().unwrap_or_default() {
        "slash_command" => planner.command(&event).await,
        "pull_request" => planner.pull_request(&event).await,
        "push" => planner.push(&event).await,
        "status" => planner.status(&event).await,
        "deployment" => planner.deployment(&event).await,
        "workflow-completed" | "job-completed" => planner.completed(&event).await,
        other => Ok(Plan::note(format!(
            "deploybot does nothing with `{other}` events"
        ))),
    }
}

struct Planner<'a, 'i> {
    bot: &'a DeployBot,
    input: &'a ActionInput<'i>,
}

impl Planner<'_, '_> {
    async fn get<T: for<'de> serde::Deserialize<'de>>(
        &self,
        kind: &str,
        key: &str,
    ) -> Result<Option<T>, PlanError> {
        let data = self.input.refs.get(kind, key).await.map_err(invalid)?;
        Ok(data.as_ref().and_then(state::read))
    }

    /// The deployments of a repository, newest first: (key, record).
    async fn deployments(&self, repository: &str) -> Result<Vec<(String, Deployment)>, PlanError> {
        let found = self
            .input
            .refs
            .group(state::DEPLOYMENT, repository)
            .await
            .map_err(invalid)?;
        Ok(found
            .into_iter()
            .filter_map(|(key, data)| Some((key, state::read::<Deployment>(&data)?)))
            .collect())
    }

    /// The repository's channel and its settings, when it is set up.
    async fn project(&self, repository: &str) -> Result<Option<(String, Channel)>, PlanError> {
        let Some(project) = self.get::<Project>(state::REPOSITORY, repository).await? else {
            return Ok(None);
        };
        let channel = self
            .get::<Channel>(state::CHANNEL, &project.channel)
            .await?
            .unwrap_or_default();
        Ok(Some((project.channel, channel)))
    }

    /// `deploy <ref> to <environment>`: the command's reply said whether it was accepted;
    /// the same checks decide here.
    async fn command(&self, event: &Event) -> Result<Plan, PlanError> {
        let payload = &event.payload;
        let name = payload["command"].as_str().unwrap_or_default();
        let words = payload["text"].as_str().unwrap_or_default();
        let Some(Command::Deploy(args)) = commands::parse(name, &self.bot.command, words) else {
            return Ok(Plan::note(
                "answered in the command's reply: nothing to send",
            ));
        };
        let channel_id = payload["channel_id"].as_str().unwrap_or_default();
        // The command's reply judged the channel as it was then; so does its delivery.
        let channel = self
            .get::<Channel>(state::CHANNEL, channel_id)
            .await?
            .filter(|channel| !channel.set_up_after(&event.received_at));
        let Some(channel) = channel else {
            return Ok(Plan::note(format!(
                "channel {channel_id} was not set up when the command came"
            )));
        };
        let request = match self.bot.routing.deploy(&args) {
            Ok(request) => request,
            Err(refusal) => {
                return Ok(Plan::note(commands::deploy_refused(
                    &self.bot.command,
                    &refusal,
                    &self.bot.routing,
                )));
            }
        };
        let record = Deployment {
            repository: channel.repository.clone(),
            url: routing::environment_url(&channel.settings, &request.environment),
            environment: request.environment,
            git_ref: request.git_ref,
            trigger: "slack_command".into(),
            description: Some(format!(
                "Manually triggered from Slack via herald with command `{}`",
                args.join(" ")
            )),
            requested_by: text(&payload["user_id"]),
            channel: Some(channel_id.to_string()),
            ..Deployment::default()
        };
        let key = record_key(&record.repository, &event.id);
        self.create(key, record).await
    }

    /// A pull request opened or pushed to: a deployment to `pr<number>`.
    async fn pull_request(&self, event: &Event) -> Result<Plan, PlanError> {
        let payload = &event.payload;
        let action = payload["action"].as_str().unwrap_or_default();
        if !matches!(action, "opened" | "synchronize" | "reopened") {
            return Ok(Plan::note(format!(
                "nothing to deploy for a pull request {action}"
            )));
        }
        let repository = repository_of(payload)?;
        let Some((channel_id, channel)) = self.project(&repository).await? else {
            return Ok(not_set_up(&repository));
        };
        let pull = &payload["pull_request"];
        let number = pull["number"].as_u64().or(payload["number"].as_u64());
        let environment = github_environment(PULL_REQUEST, number);
        let record = Deployment {
            url: routing::environment_url(&channel.settings, &environment),
            environment,
            repository: repository.clone(),
            git_ref: format!(
                "refs/heads/{}",
                pull["head"]["ref"].as_str().unwrap_or_default()
            ),
            sha: text(&pull["head"]["sha"]),
            pull_request: number,
            trigger: "gh_event".into(),
            description: Some(self.bot.description.clone()),
            author: text(&pull["head"]["user"]["login"]),
            channel: Some(channel_id),
            ..Deployment::default()
        };
        self.create(record_key(&repository, &event.id), record)
            .await
    }

    /// A push to a ref the routing maps to an environment.
    async fn push(&self, event: &Event) -> Result<Plan, PlanError> {
        let payload = &event.payload;
        let git_ref = payload["ref"].as_str().unwrap_or_default();
        if payload["deleted"].as_bool() == Some(true) {
            return Ok(Plan::note(format!(
                "{git_ref} was deleted: nothing to deploy"
            )));
        }
        let Some(environment) = self.bot.routing.push_environment(git_ref) else {
            return Ok(Plan::note(format!("pushes to {git_ref} deploy nowhere")));
        };
        let repository = repository_of(payload)?;
        let Some((channel_id, channel)) = self.project(&repository).await? else {
            return Ok(not_set_up(&repository));
        };
        let head = &payload["head_commit"];
        let record = Deployment {
            url: routing::environment_url(&channel.settings, environment),
            environment: environment.to_string(),
            repository: repository.clone(),
            git_ref: git_ref.to_string(),
            sha: text(&head["id"]).or_else(|| text(&payload["after"])),
            trigger: "gh_event".into(),
            description: Some(self.bot.description.clone()),
            author: text(&head["author"]["username"]).or_else(|| text(&head["author"]["name"])),
            channel: Some(channel_id),
            ..Deployment::default()
        };
        self.create(record_key(&repository, &event.id), record)
            .await
    }

    /// A commit's checks passed: a deployment GitHub refused for them is created again.
    async fn status(&self, event: &Event) -> Result<Plan, PlanError> {
        let payload = &event.payload;
        if payload["state"].as_str() != Some("success") {
            return Ok(Plan::note("only a successful status retries a deployment"));
        }
        let repository = repository_of(payload)?;
        let sha = payload["sha"].as_str().unwrap_or_default();
        let branches: Vec<&str> = payload["branches"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|branch| branch["name"].as_str())
            .collect();
        let waiting = self
            .deployments(&repository)
            .await?
            .into_iter()
            .find(|(_, record)| {
                record.status == Status::Waiting
                    && (record.sha.as_deref() == Some(sha)
                        || branches.contains(&routing::short_ref(&record.git_ref)))
            });
        match waiting {
            Some((key, record)) => self.create(key, record).await,
            None => Ok(Plan::note(format!(
                "no deployment of {repository} waits for {sha}"
            ))),
        }
    }

    /// GitHub announced a deployment: CircleCI builds it.
    async fn deployment(&self, event: &Event) -> Result<Plan, PlanError> {
        let payload = &event.payload;
        let repository = repository_of(payload)?;
        let deployment = &payload["deployment"];
        let id = deployment["id"].as_u64();
        let mut known = None;
        if let Some(key) = deployment["payload"]["herald"].as_str() {
            // herald created it: its record is written once that delivery's attempt ends,
            // which may be just after GitHub announced it.
            let record = self.get::<Deployment>(state::DEPLOYMENT, key).await?;
            let Some(record) = record else {
                return Err(PlanError::NotYet(format!(
                    "deployment {} was created by herald ({key}) and its record is not written yet",
                    id.unwrap_or_default()
                )));
            };
            known = Some((key.to_string(), record));
        }
        if known.is_none() {
            known = self
                .deployments(&repository)
                .await?
                .into_iter()
                .find(|(_, record)| record.deployment_id.is_some() && record.deployment_id == id);
        }
        let (key, mut record) = match known {
            Some(known) => known,
            None => {
                let Some((channel_id, _)) = self.project(&repository).await? else {
                    return Ok(not_set_up(&repository));
                };
                let record = self.announced(deployment, &repository, channel_id);
                (record_key(&repository, &event.id), record)
            }
        };
        if record.pipeline_id.is_some() || record.build_number.is_some() {
            return Ok(Plan::note(format!(
                "deployment {} is already building",
                id.unwrap_or_default()
            )));
        }
        record.deployment_id = id.or(record.deployment_id);
        record.sha = text(&deployment["sha"]).or(record.sha);
        if record.url.is_none() {
            record.url = text(&deployment["payload"]["url"]);
        }
        let trigger = self
            .bot
            .circleci
            .trigger(&record, self.bot.timeout)
            .map_err(invalid)?;
        self.two_steps(key, record, trigger, Map::new()).await
    }

    /// A deployment GitHub announced that herald did not create.
    fn announced(&self, deployment: &Value, repository: &str, channel: String) -> Deployment {
        let environment = deployment["environment"].as_str().unwrap_or_default();
        let git_ref = deployment["ref"].as_str().unwrap_or_default();
        let tags = self
            .bot
            .routing
            .environments
            .get(environment)
            .is_some_and(|e| e.tags);
        let git_ref = match (git_ref.starts_with("refs/"), tags) {
            (true, _) => git_ref.to_string(),
            (false, true) => format!("refs/tags/{git_ref}"),
            (false, false) => format!("refs/heads/{git_ref}"),
        };
        Deployment {
            repository: repository.to_string(),
            environment: environment.to_string(),
            git_ref,
            trigger: "github".into(),
            description: text(&deployment["description"]),
            author: text(&deployment["creator"]["login"]),
            url: text(&deployment["payload"]["url"]),
            channel: Some(channel),
            pull_request: deployment["payload"]["prNumber"].as_u64(),
            ..Deployment::default()
        }
    }

    /// CircleCI finished: the result becomes the deployment's status at GitHub.
    async fn completed(&self, event: &Event) -> Result<Plan, PlanError> {
        let payload = &event.payload;
        let jobs = self.bot.circleci.trigger == super::clients::Trigger::Job;
        let (outcome, built) = if event.kind == "job-completed" {
            if !jobs {
                return Ok(Plan::note("pipelines report with workflow-completed"));
            }
            let number = payload["job"]["number"].as_u64();
            (
                payload["job"]["status"].as_str().unwrap_or_default(),
                Built::Job(number),
            )
        } else {
            if jobs {
                return Ok(Plan::note("jobs report with job-completed"));
            }
            let workflow = payload["workflow"]["name"].as_str().unwrap_or_default();
            if let Some(wanted) = &self.bot.circleci.workflow
                && wanted != workflow
            {
                return Ok(Plan::note(format!(
                    "workflow {workflow} does not report deployments (`workflow` is {wanted})"
                )));
            }
            let pipeline = text(&payload["pipeline"]["id"]);
            (
                payload["workflow"]["status"].as_str().unwrap_or_default(),
                Built::Pipeline(pipeline),
            )
        };
        if outcome.is_empty() {
            return Ok(Plan::note("the payload names no outcome"));
        }
        let slug = payload["project"]["slug"].as_str().unwrap_or_default();
        let Some(repository) = state::repository_of_slug(slug) else {
            return Ok(Plan::note(format!("{slug} is not a GitHub project")));
        };
        let found = self
            .deployments(&repository)
            .await?
            .into_iter()
            .find(|(_, record)| built.by(record));
        let Some((key, mut record)) = found else {
            return Ok(Plan::note(format!(
                "no deployment of {repository} was built by this {}",
                event.kind
            )));
        };
        record.status = Status::of_outcome(outcome);
        let mut set = Map::new();
        set.insert("status".into(), json!(record.status));
        if let Some(url) =
            text(&payload["workflow"]["url"]).or_else(|| text(&payload["job"]["url"]))
        {
            record.log_url = Some(url.clone());
            set.insert("log_url".into(), json!(url));
        }
        let Some(deployment_id) = record.deployment_id else {
            return self.message_only(key, record, set).await;
        };
        let report = self
            .bot
            .github
            .report_status(&record, deployment_id, self.bot.timeout)
            .map_err(invalid)?;
        self.two_steps(key, record, report, set).await
    }

    /// Create the GitHub deployment for `record` (new, or waiting for checks), then post or
    /// update its message.
    async fn create(&self, key: String, record: Deployment) -> Result<Plan, PlanError> {
        // A retry, or a deployment that waited for checks: what was learned (the
        // message's ts, the sha) is kept.
        let stored = self.get::<Deployment>(state::DEPLOYMENT, &key).await?;
        let record = stored.unwrap_or(record);
        let request = self
            .bot
            .github
            .create_deployment(&record, &key, self.bot.timeout)
            .map_err(invalid)?;
        let mut set = as_map(&record);
        if record.created_at.is_none() {
            set.insert("created_at".into(), json!(self.input.now.to_rfc3339()));
        }
        self.two_steps(key, record, request, set).await
    }

    /// Step 0 (`first`, remembering `set` and its answer's facts), then step 1, the
    /// message, with step 0's facts.
    async fn two_steps(
        &self,
        key: String,
        record: Deployment,
        first: PlannedRequest,
        set: Map<String, Value>,
    ) -> Result<Plan, PlanError> {
        let repository = record.repository.clone();
        let first = first.step(0).remember(Remember::Merge {
            key: ref_key(&key),
            known: Some(state::value(&record)),
            set,
            group: Some(repository.clone()),
        });
        let mut requests = vec![first];
        if let Some(message) = self.message(&key, &record, Map::new()).await? {
            requests.push(message);
        }
        Ok(Plan::stepped(requests))
    }

    /// Only the message (a deployment with no GitHub id to report to).
    async fn message_only(
        &self,
        key: String,
        record: Deployment,
        set: Map<String, Value>,
    ) -> Result<Plan, PlanError> {
        Ok(match self.message(&key, &record, set).await? {
            Some(message) => Plan::stepped(vec![message]),
            None => Plan::note("the deployment has no Slack message and no GitHub id"),
        })
    }

    /// Step 1: post the deployment's message, or update it in place.
    async fn message(
        &self,
        key: &str,
        record: &Deployment,
        set: Map<String, Value>,
    ) -> Result<Option<PlannedRequest>, PlanError> {
        let Some(channel) = record.channel.clone() else {
            return Ok(None);
        };
        let people = self.people(record).await?;
        let text = message::text(record, &people, &self.bot.web_url);
        let request = self
            .bot
            .slack
            .message(&channel, record.ts.as_deref(), &text, self.bot.timeout)
            .map_err(invalid)?
            .step(1)
            .following(Restate {
                record: record.clone(),
                people,
                web_url: self.bot.web_url.clone(),
            })
            .remember(Remember::Merge {
                key: ref_key(key),
                known: Some(state::value(&record)),
                set,
                group: Some(record.repository.clone()),
            });
        Ok(Some(request))
    }

    /// Who asked and who wrote the commit, @mentioned when linked.
    async fn people(&self, record: &Deployment) -> Result<People, PlanError> {
        let author = match &record.author {
            Some(login) => {
                let link = self.get::<UserLink>(state::USER, login).await?;
                Some(message::mention(
                    link.as_ref().map(|l| l.slack_user.as_str()),
                    login,
                ))
            }
            None => None,
        };
        Ok(People {
            requested_by: record
                .requested_by
                .as_deref()
                .map(|user| format!("<@{user}>")),
            author,
        })
    }
}

/// The message of step 1, written with what step 0 answered (the deployment's id and sha,
/// the build) just before it is sent.
#[derive(Debug)]
struct Restate {
    record: Deployment,
    people: People,
    web_url: String,
}

impl Follow for Restate {
    fn apply(&self, request: &PlannedRequest, earlier: &Earlier) -> Result<Followed, String> {
        let Some(facts) = earlier.of(0) else {
            return Ok(Followed::Send(Box::new(request.clone())));
        };
        let mut record = state::value(&self.record);
        if let (Some(record), Some(facts)) = (record.as_object_mut(), facts.as_object()) {
            record.extend(facts.clone());
        }
        let record = state::read::<Deployment>(&record).unwrap_or_else(|| self.record.clone());
        let text = message::text(&record, &self.people, &self.web_url);
        let mut body: Value = request
            .body
            .as_ref()
            .and_then(|body| serde_json::from_slice(body).ok())
            .unwrap_or_else(|| json!({}));
        body["text"] = json!(text);
        let mut request = request.clone();
        request.body = Some(Bytes::from(body.to_string()));
        request.shown_body = serde_json::to_string_pretty(&body).ok();
        Ok(Followed::Send(Box::new(request)))
    }
}

/// What CircleCI built, as its completion names it.
enum Built {
    /// API v1.1: the build number.
    Job(Option<u64>),
    /// API v2: the pipeline id.
    Pipeline(Option<String>),
}

impl Built {
    /// Whether `record`'s deployment was built by it.
    fn by(&self, record: &Deployment) -> bool {
        match self {
            Built::Job(number) => number.is_some() && record.build_number == *number,
            Built::Pipeline(id) => id.is_some() && record.pipeline_id == *id,
        }
    }
}

fn record_key(repository: &str, event_id: &str) -> String {
    format!("{repository}#{event_id}")
}

fn ref_key(key: &str) -> RefKey {
    RefKey {
        kind: state::DEPLOYMENT,
        key: key.to_string(),
    }
}

fn repository_of(payload: &Value) -> Result<String, PlanError> {
    text(&payload["repository"]["full_name"])
        .ok_or_else(|| invalid("the event names no repository.full_name".into()))
}

fn not_set_up(repository: &str) -> Plan {
    Plan::note(format!("{repository} is not set up in any channel"))
}

fn as_map(record: &Deployment) -> Map<String, Value> {
    match state::value(&record) {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

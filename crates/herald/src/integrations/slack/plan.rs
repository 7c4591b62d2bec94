//! Planning a Slack action. A keyed action's requests have fixed step numbers, so a retry
//! resumes after the steps already done whichever way it is planned the second time (the
//! root it posted now exists):
//!
//! | step | request |
//! |---|---|
//! | 0 | post the root (none yet) |
//! | 1 | its first reply, in the new thread (`reply_to_new`) |
//! | 2, 3 | rotation: close the full thread with a notice, post a new root repeating it |
//! | 4 | reply in the thread |
//! | 5 | update the root (`update`) |
//! | 6… | supersede: a notice in each older thread of the group, then on its root |
//!
//! Roots (steps 0 and 3) carry metadata naming their delivery and step; when an earlier
//! attempt may have posted one unheard (`recover.rs`), the channel's history is read first.

use super::action::{FollowPost, IfMissing, REF_KIND, SlackAction};
use super::recover::{self, RootLookup};
use crate::action::{ActionInput, Plan, PlanError, PlannedRequest, RefKey, Remember};
use serde_json::{Map, Value, json};

const ROOT: usize = 0;
const FIRST_REPLY: usize = 1;
const CLOSE_FULL: usize = 2;
const CONTINUE: usize = 3;
const REPLY: usize = 4;
const UPDATE: usize = 5;
const SUPERSEDE: usize = 6;

/// A remembered message.
struct Known {
    channel: String,
    ts: String,
    data: Value,
}

impl Known {
    fn from(data: Value) -> Option<Known> {
        Some(Known {
            channel: data["channel"].as_str()?.to_string(),
            ts: data["ts"].as_str()?.to_string(),
            data,
        })
    }

    fn text(&self) -> &str {
        self.data["text"].as_str().unwrap_or_default()
    }

    fn replies(&self) -> u64 {
        self.data["replies"].as_u64().unwrap_or(0)
    }
}

pub async fn plan(action: &SlackAction, input: &ActionInput<'_>) -> Result<Plan, PlanError> {
    let Some(key_template) = &action.key else {
        let channel = action.channel(input)?;
        let body = action.body(input, &action.message, &[("channel", json!(channel))])?;
        let request = action.request("chat.postMessage", body, format!("post to {channel}"))?;
        return Ok(Plan::of(vec![request]));
    };
    let key = RefKey {
        kind: REF_KIND,
        key: render(input, key_template)?,
    };
    let group = match &action.supersede {
        Some(supersede) => Some(render(input, &supersede.group)?),
        None => None,
    };
    let retire_group = match &action.retire_group {
        Some(template) => Some(render(input, template)?),
        None => None,
    };
    let known = input
        .refs
        .get(REF_KIND, &key.key)
        .await
        .map_err(PlanError::Invalid)?
        .and_then(Known::from);
    let mut requests = match &known {
        Some(known) => existing(action, input, &key, known, &group)?,
        None => match missing(action, input, &key, &group, &retire_group)? {
            Some(requests) => requests,
            None if action.if_missing == IfMissing::Skip => {
                return Ok(Plan::note(format!(
                    "no Slack message for key {:?} yet: nothing to do",
                    key.key
                )));
            }
            None => {
                return Err(PlanError::Invalid(format!(
                    "no Slack message for key {:?}",
                    key.key
                )));
            }
        },
    };
    if let Some(group) = &group {
        requests.extend(supersede(action, input, &key, group).await?);
    }
    if requests.is_empty() {
        return Ok(Plan::note(format!(
            "the message for key {:?} exists: nothing to do",
            key.key
        )));
    }
    Ok(Plan::stepped(requests))
}

fn render(
    input: &ActionInput<'_>,
    template: &crate::core::template::TemplateRef,
) -> Result<String, PlanError> {
    Ok(input
        .templates
        .render(template, input.context)?
        .trim()
        .to_string())
}

/// No message yet: post the root (and its first reply), or `None` to skip or fail.
fn missing(
    action: &SlackAction,
    input: &ActionInput<'_>,
    key: &RefKey,
    group: &Option<String>,
    retire_group: &Option<String>,
) -> Result<Option<Vec<PlannedRequest>>, PlanError> {
    if action.if_missing != IfMissing::Post {
        return Ok(None);
    }
    let channel = action.channel(input)?;
    let mut body = action.body(input, &action.message, &[("channel", json!(channel))])?;
    let text = body.0["text"].clone();
    let purpose = format!(
        "post the root message for key {:?} to {channel} (none yet)",
        key.key
    );
    if let Some(delivery) = &input.delivery {
        recover::tag(&mut body, delivery, ROOT);
    }
    let root = action
        .request("chat.postMessage", body, purpose)?
        .step(ROOT);
    let mut root = looked_up_first(action, root, &channel, input)?;
    root.remember = Some(Remember::Answer {
        key: key.clone(),
        extra: json!({ "text": text, "replies": 0, "group": group, "retire_group": retire_group }),
        group: group.clone(),
    });
    let mut requests = vec![root];
    if action.reply_to_new
        && let Some(body) = action.reply_body(input, &[("channel", json!(channel))])?
    {
        let purpose = "reply in the thread of that new message".to_string();
        let mut reply = action
            .request("chat.postMessage", body, purpose)?
            .step(FIRST_REPLY);
        reply = reply.following(FollowPost { field: "thread_ts" });
        reply.remember = Some(replied(key, None, group));
        requests.push(reply);
    }
    Ok(Some(requests))
}

/// A root post an earlier attempt may have made (see `recover.rs`) looks for it first.
fn looked_up_first(
    action: &SlackAction,
    root: PlannedRequest,
    channel: &str,
    input: &ActionInput<'_>,
) -> Result<PlannedRequest, PlanError> {
    match &input.delivery {
        Some(delivery) if delivery.outcome_unknown => {
            let lookup = RootLookup::new(action, channel, delivery, root.step)?;
            Ok(root.recovering(lookup))
        }
        _ => Ok(root),
    }
}

/// One more reply in the key's thread.
fn replied(key: &RefKey, known: Option<Value>, group: &Option<String>) -> Remember {
    Remember::Update {
        key: key.clone(),
        known,
        set: Map::new(),
        count: Some("replies"),
        group: group.clone(),
    }
}

/// The key's message exists: continue a full thread, reply, update.
fn existing(
    action: &SlackAction,
    input: &ActionInput<'_>,
    key: &RefKey,
    known: &Known,
    group: &Option<String>,
) -> Result<Vec<PlannedRequest>, PlanError> {
    let mut requests = Vec::new();
    let full = action
        .rotation
        .as_ref()
        .filter(|rotation| !action.reply.is_empty() && known.replies() >= rotation.max_replies);
    // After a rotation the reply and update go to the new root, known once it is posted.
    let (target, known_data) = match full {
        Some(rotation) => {
            requests.extend(rotate(action, input, key, known, group, &rotation.notice)?);
            (None, None)
        }
        None => (Some((&known.channel, &known.ts)), Some(known.data.clone())),
    };
    let mut fields = vec![("channel", json!(known.channel))];
    if let Some((_, ts)) = target {
        fields.push(("thread_ts", json!(ts)));
    }
    if !action.reply.is_empty()
        && let Some(body) = action.reply_body(input, &fields)?
    {
        let purpose = format!(
            "reply in the thread of key {:?} ({} {})",
            key.key, known.channel, known.ts
        );
        let mut reply = action
            .request("chat.postMessage", body, purpose)?
            .step(REPLY);
        if target.is_none() {
            reply = reply.following(FollowPost { field: "thread_ts" });
        }
        reply.remember = Some(replied(key, known_data.clone(), group));
        requests.push(reply);
    }
    if action.update {
        let mut fields = vec![("channel", json!(known.channel))];
        if let Some((_, ts)) = target {
            fields.push(("ts", json!(ts)));
        }
        let body = action.body(input, &action.message, &fields)?;
        let text = body.0["text"].as_str().unwrap_or_default().to_string();
        let purpose = format!(
            "update the message of key {:?} ({} {})",
            key.key, known.channel, known.ts
        );
        let mut update = action.request("chat.update", body, purpose)?.step(UPDATE);
        if target.is_none() {
            update = update.following(FollowPost { field: "ts" });
        }
        update.remember = Some(Remember::Update {
            key: key.clone(),
            known: known_data,
            set: Map::from_iter([("text".to_string(), json!(text))]),
            count: None,
            group: group.clone(),
        });
        requests.push(update);
    }
    Ok(requests)
}

/// Close a full thread with `notice` and continue it under a new root repeating the old one.
fn rotate(
    action: &SlackAction,
    input: &ActionInput<'_>,
    key: &RefKey,
    known: &Known,
    group: &Option<String>,
    notice: &str,
) -> Result<Vec<PlannedRequest>, PlanError> {
    let closed = format!("{}\n{notice}", known.text());
    let body = json!({ "channel": known.channel, "ts": known.ts, "text": closed });
    let purpose = format!(
        "close the full thread of key {:?} ({} {})",
        key.key, known.channel, known.ts
    );
    let close = action
        .request("chat.update", (body.clone(), body), purpose)?
        .step(CLOSE_FULL);
    let body = json!({ "channel": known.channel, "text": known.text() });
    let mut body = (body.clone(), body);
    if let Some(delivery) = &input.delivery {
        recover::tag(&mut body, delivery, CONTINUE);
    }
    let purpose = format!("continue key {:?} under a new root", key.key);
    let next = action
        .request("chat.postMessage", body, purpose)?
        .step(CONTINUE);
    let mut next = looked_up_first(action, next, &known.channel, input)?;
    next.remember = Some(Remember::Answer {
        key: key.clone(),
        extra: json!({
            "text": known.text(),
            "replies": 0,
            "group": known.data["group"],
            "retire_group": known.data["retire_group"],
        }),
        group: group.clone(),
    });
    Ok(vec![close, next])
}

/// Retire the group's threads beyond the number kept (this key's counts as one).
async fn supersede(
    action: &SlackAction,
    input: &ActionInput<'_>,
    key: &RefKey,
    group: &str,
) -> Result<Vec<PlannedRequest>, PlanError> {
    let Some(supersede) = &action.supersede else {
        return Ok(Vec::new());
    };
    let keep_text = render(input, &supersede.keep)?;
    let keep: usize = keep_text.parse().map_err(|_| {
        PlanError::Invalid(format!(
            "`supersede.keep` renders {keep_text:?}, not a number"
        ))
    })?;
    let others: Vec<(String, Value)> = input
        .refs
        .group(REF_KIND, group)
        .await
        .map_err(PlanError::Invalid)?
        .into_iter()
        .filter(|(other, _)| *other != key.key)
        .collect();
    let mut requests = Vec::new();
    let retired = others.into_iter().skip(keep.saturating_sub(1));
    for (index, (other, data)) in retired.enumerate() {
        let step = SUPERSEDE + 2 * index;
        requests.extend(retire(
            action,
            &other,
            &data,
            &supersede.notice,
            "superseded",
            step,
        )?);
    }
    Ok(requests)
}

/// Retire the remembered thread `key`: `notice` as a reply and appended to its root, then
/// forget it. Two requests, steps `step` and `step + 1`; none if `data` names no message.
pub(super) fn retire(
    action: &SlackAction,
    key: &str,
    data: &Value,
    notice: &str,
    why: &str,
    step: usize,
) -> Result<Vec<PlannedRequest>, PlanError> {
    let Some(old) = Known::from(data.clone()) else {
        return Ok(Vec::new());
    };
    let body = json!({ "channel": old.channel, "thread_ts": old.ts, "text": notice });
    let purpose = format!("tell the thread of key {key:?} it is {why}");
    let reply = action
        .request("chat.postMessage", (body.clone(), body), purpose)?
        .step(step);
    let text = format!("{}\n{notice}", old.text());
    let body = json!({ "channel": old.channel, "ts": old.ts, "text": text });
    let purpose = format!("mark the root of key {key:?} {why}, and forget it");
    let mut update = action
        .request("chat.update", (body.clone(), body), purpose)?
        .step(step + 1);
    update.remember = Some(Remember::Forget(RefKey {
        kind: REF_KIND,
        key: key.to_string(),
    }));
    Ok(vec![reply, update])
}

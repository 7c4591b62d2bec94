//! The step runner: carries out an action's plan once. For each step still to do it fills
//! in what earlier steps answered, paces, sends, asks the action to classify the answer,
//! remembers refs, and stops at the first failure so a retry resumes after the steps done.
//! A plan whose side effect is not an HTTP request carries it out as its one step.

use super::pacer::{Pacer, Ticket};
use crate::action::{
    Action, AttemptReport, Earlier, Effect, FailureKind, Followed, Lookup, Outcome, Plan,
    PlannedRequest, Recover, RefKey, RefWrite, Remember, ref_delete, ref_write,
};
use crate::clock::SharedClock;
use crate::core::classify::Verdict;
use crate::transport::{self, Answer};
use serde_json::{Value, json};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// What the runner sends with.
#[derive(Clone)]
pub struct ActionDeps {
    pub http: reqwest::Client,
    pub clock: SharedClock,
    /// How much of a response body is kept in the attempt log.
    pub response_body_limit: usize,
    /// Spaces out the steps that ask to be paced.
    pub pacer: Arc<Pacer>,
}

impl ActionDeps {
    pub fn new(clock: SharedClock, response_body_limit: usize) -> Self {
        ActionDeps {
            http: transport::client(),
            clock,
            response_body_limit,
            pacer: Arc::default(),
        }
    }
}

/// Carry out `plan` once, skipping the steps before `done` (done by earlier attempts).
/// `ticket` is the delivery's place among its action's, for paced steps.
pub async fn run(
    action: &dyn Action,
    plan: &Plan,
    deps: &ActionDeps,
    done: usize,
    ticket: Option<&Ticket>,
) -> AttemptReport {
    if plan.logs_message {
        let message = plan.message.as_deref().unwrap_or_default();
        tracing::info!(target: "herald::log_action", action = action.kind(), message, "Log action");
    }
    if let Some(effect) = &plan.effect {
        return apply(effect.as_ref(), done).await;
    }
    let mut report = AttemptReport::resuming(done);
    let mut earlier = Earlier::default();
    let mut remembered = Remembered::default();
    let mut parts = FailedParts::default();
    for planned in plan.remaining(done) {
        if parts.has_failed(planned) {
            report.done = planned.step + 1;
            continue;
        }
        let request = match &planned.follow {
            None => Some(Cow::Borrowed(planned)),
            Some(follow) => match follow.apply(planned, &earlier) {
                Ok(Followed::Send(request)) => Some(Cow::Owned(*request)),
                Ok(Followed::Done(facts)) => {
                    earlier.push(planned.step, facts);
                    report.done = planned.step + 1;
                    continue;
                }
                Err(error) => {
                    report.fail(Verdict::Permanent, None, error);
                    None
                }
            },
        };
        let facts = match &request {
            Some(request) => step(action, request, deps, ticket, &mut report).await,
            None => None,
        };
        let (Some(request), Some(facts)) = (request, facts) else {
            if parts.absorb(planned, &mut report) {
                report.done = planned.step + 1;
                continue;
            }
            return parts.settle(report);
        };
        if let Some(remember) = &request.remember {
            report.refs.push(remembered.apply(remember, &facts));
        }
        earlier.push(request.step, facts);
        report.done = request.step + 1;
    }
    parts.settle(report)
}

/// Carry out a plan's effect, its one step (unless an earlier attempt did), classified like
/// an answer; its facts are kept as the attempt's response.
async fn apply(effect: &dyn Effect, done: usize) -> AttemptReport {
    let mut report = AttemptReport::resuming(done);
    if done > 0 {
        return report;
    }
    if let Some(facts) = settle(effect.apply().await, None, &mut report) {
        report.done = 1;
        report.response_body = (!facts.is_null()).then(|| facts.to_string());
    }
    report
}

/// Parts of the plan that failed for good in this attempt (see `PlannedRequest::part`):
/// their remaining steps are skipped, the other parts run, and the attempt fails for good
/// at the end, naming each.
#[derive(Default)]
struct FailedParts {
    failed: Vec<(String, String, Option<u16>)>,
}

impl FailedParts {
    fn has_failed(&self, request: &PlannedRequest) -> bool {
        request
            .part
            .as_ref()
            .is_some_and(|part| self.failed.iter().any(|(failed, ..)| failed == part))
    }

    /// Take a permanent failure of a part's step out of `report`; false if it is not one
    /// (a retry, a credential failure, a step of no part) and the attempt stops.
    fn absorb(&mut self, request: &PlannedRequest, report: &mut AttemptReport) -> bool {
        let Some(part) = &request.part else {
            return false;
        };
        if report.verdict != Verdict::Permanent || report.failure_kind.is_some() {
            return false;
        }
        let error = report.error.take().unwrap_or_default();
        self.failed.push((part.clone(), error, report.status_code));
        report.verdict = Verdict::Success;
        true
    }

    /// The attempt's report, failed for good if a part failed (and it did not already stop
    /// on a worse failure).
    fn settle(self, mut report: AttemptReport) -> AttemptReport {
        if self.failed.is_empty() {
            return report;
        }
        let named: Vec<String> = self
            .failed
            .iter()
            .map(|(part, error, _)| format!("{part}: {error}"))
            .collect();
        let named = named.join("; ");
        match report.error.take() {
            Some(error) => report.error = Some(format!("{error}; earlier, {named}")),
            None => {
                let status = self.failed.last().and_then(|(_, _, status)| *status);
                report.fail(Verdict::Permanent, status, named);
            }
        }
        report
    }
}

/// Lookups read whole pages of history: their answers are kept up to this size.
const LOOKUP_BODY_LIMIT: usize = 1 << 20;

/// Send one step and classify its answer: its facts, or `None` with `report` failed. A step
/// an earlier attempt may have done is looked up first, and not sent again if it was.
async fn step(
    action: &dyn Action,
    request: &PlannedRequest,
    deps: &ActionDeps,
    ticket: Option<&Ticket>,
    report: &mut AttemptReport,
) -> Option<Value> {
    if let Some(recover) = &request.recover {
        match look(recover.as_ref(), deps).await {
            Ok(Lookup::Done(facts)) => {
                tracing::info!(
                    step = request.step,
                    "An earlier attempt did this step: not sent again"
                );
                return Some(facts);
            }
            Ok(Lookup::NotDone) => {}
            Ok(Lookup::Failed(outcome)) => return settle(outcome, None, report),
            Err(error) => {
                report.fail(Verdict::Retry { retry_after: None }, None, error);
                return None;
            }
        }
    }
    // Held until the answer is in: the next call under the key goes after it.
    let _turn = match &request.pace {
        Some(pace) => Some(deps.pacer.wait(pace, ticket).await),
        None => None,
    };
    let (answer, outcome) = match send(action, request, deps).await {
        Ok(classified) => classified,
        Err(outcome) => return settle(outcome, None, report),
    };
    let status = Some(answer.status);
    report.status_code = status;
    report.response_body = Some(answer.body);
    settle(outcome, status, report)
}

/// Send `request` and classify its answer; `Err` settles the step (a transport error, or
/// no credential to send). A request whose credential is fetched at send time (`authorize`)
/// carries it; when the answer says it was refused (a token revoked or expired early), it
/// is forgotten and the request sent once more with a fresh one.
async fn send(
    action: &dyn Action,
    request: &PlannedRequest,
    deps: &ActionDeps,
) -> Result<(Answer, Outcome), Outcome> {
    let mut resent = false;
    loop {
        let authorized = authorized(request, deps).await?;
        let answer = transport::send(&deps.http, &authorized, deps.response_body_limit)
            .await
            .map_err(Outcome::transient)?;
        let outcome = action.classify(request, &answer, deps.clock.now());
        match &request.authorize {
            Some(authorize) if !resent && matches!(outcome, Outcome::Credential { .. }) => {
                tracing::info!(
                    step = request.step,
                    "The credential was refused: sending again with a fresh one"
                );
                authorize.refused();
                resent = true;
            }
            _ => return Ok((answer, outcome)),
        }
    }
}

/// `request` with the `Authorization` its `authorize` fetches now (itself when it has none).
async fn authorized<'r>(
    request: &'r PlannedRequest,
    deps: &ActionDeps,
) -> Result<Cow<'r, PlannedRequest>, Outcome> {
    let Some(authorize) = &request.authorize else {
        return Ok(Cow::Borrowed(request));
    };
    let value = authorize
        .authorization(&deps.http, deps.clock.now())
        .await?;
    let request = request
        .with_authorization(&value)
        .map_err(|error| Outcome::Credential { error })?;
    Ok(Cow::Owned(request))
}

/// Send a recover lookup and read what it found; `Err` is a transport error.
async fn look(recover: &dyn Recover, deps: &ActionDeps) -> Result<Lookup, String> {
    let limit = deps.response_body_limit.max(LOOKUP_BODY_LIMIT);
    let lookup = match authorized(recover.lookup(), deps).await {
        Ok(lookup) => lookup,
        Err(outcome) => return Ok(Lookup::Failed(outcome)),
    };
    let answer = transport::send(&deps.http, &lookup, limit).await?;
    Ok(recover.found(&answer, deps.clock.now()))
}

/// A classified answer: the step's facts, or `None` with `report` failed.
fn settle(outcome: Outcome, status: Option<u16>, report: &mut AttemptReport) -> Option<Value> {
    match outcome {
        Outcome::Done { facts } => return Some(facts),
        Outcome::RateLimited { wait, error } => {
            report.counts_against_schedule = false;
            let verdict = Verdict::Retry {
                retry_after: Some(wait),
            };
            report.fail(verdict, status, error);
        }
        Outcome::Transient { error, retry_after } => {
            report.fail(Verdict::Retry { retry_after }, status, error)
        }
        Outcome::Permanent { error } => report.fail(Verdict::Permanent, status, error),
        Outcome::Credential { error } => {
            report.failure_kind = Some(FailureKind::Credential);
            report.fail(Verdict::Permanent, status, error);
        }
    }
    None
}

/// The refs as this attempt changes them: several steps may change one (post a new root,
/// then reply in it), each from the state the previous one left.
#[derive(Default)]
struct Remembered {
    data: HashMap<String, Value>,
}

impl Remembered {
    fn apply(&mut self, remember: &Remember, facts: &Value) -> RefWrite {
        let (key, data, group) = match remember {
            Remember::Forget(key) => {
                self.data.remove(&key.key);
                return ref_delete(key);
            }
            Remember::Answer { key, extra, group } => {
                let mut data = extra.clone();
                if let (Some(data), Some(facts)) = (data.as_object_mut(), facts.as_object()) {
                    data.extend(facts.clone());
                }
                (key, data, group)
            }
            Remember::Update {
                key,
                known,
                set,
                count,
                group,
            } => {
                let mut data = self.current(key, known);
                for (field, value) in set {
                    data[field] = value.clone();
                }
                if let Some(field) = count {
                    let count = data[*field].as_u64().unwrap_or(0);
                    data[*field] = json!(count + 1);
                }
                (key, data, group)
            }
            Remember::Merge {
                key,
                known,
                set,
                group,
            } => {
                let mut data = self.current(key, known);
                if !data.is_object() {
                    data = json!({});
                }
                for (field, value) in set.iter().chain(facts.as_object().into_iter().flatten()) {
                    data[field] = value.clone();
                }
                (key, data, group)
            }
        };
        // A ref that records its group keeps it, whichever action writes it next.
        let group = group
            .clone()
            .or_else(|| data["group"].as_str().map(str::to_string));
        self.data.insert(key.key.clone(), data.clone());
        ref_write(key, data, group.as_deref())
    }

    fn current(&self, key: &RefKey, known: &Option<Value>) -> Value {
        self.data
            .get(&key.key)
            .cloned()
            .or_else(|| known.clone())
            .unwrap_or_else(|| json!({}))
    }
}

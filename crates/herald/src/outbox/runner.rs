//! The step runner: carries out an action's plan once. For each step still to do it fills
//! in what earlier steps answered, paces, sends, asks the action to classify the answer,
//! remembers refs, and stops at the first failure so a retry resumes after the steps done.

use super::pacer::{Pacer, Ticket};
use crate::action::{
    Action, AttemptReport, Earlier, FailureKind, Lookup, Outcome, Plan, PlannedRequest, Recover,
    RefKey, RefWrite, Remember, ref_delete, ref_write,
};
use crate::clock::SharedClock;
use crate::core::classify::Verdict;
use crate::transport;
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
    let mut report = AttemptReport::resuming(done);
    let mut earlier = Earlier::default();
    let mut remembered = Remembered::default();
    for planned in plan.remaining(done) {
        let request = match &planned.follow {
            Some(follow) => match follow.apply(planned, &earlier) {
                Ok(request) => Cow::Owned(request),
                Err(error) => return report.failed(Verdict::Permanent, None, error),
            },
            None => Cow::Borrowed(planned),
        };
        let facts = match step(action, &request, deps, ticket, &mut report).await {
            Some(facts) => facts,
            None => return report,
        };
        if let Some(remember) = &request.remember {
            report.refs.push(remembered.apply(remember, &facts));
        }
        earlier.push(request.step, facts);
        report.done = request.step + 1;
    }
    report
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
    let answer = match transport::send(&deps.http, request, deps.response_body_limit).await {
        Ok(answer) => answer,
        Err(error) => {
            report.fail(Verdict::Retry { retry_after: None }, None, error);
            return None;
        }
    };
    let status = Some(answer.status);
    report.status_code = status;
    report.response_body = Some(answer.body.clone());
    let outcome = action.classify(request, &answer, deps.clock.now());
    settle(outcome, status, report)
}

/// Send a recover lookup and read what it found; `Err` is a transport error.
async fn look(recover: &dyn Recover, deps: &ActionDeps) -> Result<Lookup, String> {
    let limit = deps.response_body_limit.max(LOOKUP_BODY_LIMIT);
    let answer = transport::send(&deps.http, recover.lookup(), limit).await?;
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

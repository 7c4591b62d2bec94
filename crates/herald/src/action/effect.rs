//! A side effect an action carries out itself rather than as HTTP requests (statements
//! against a database). It goes through the same outbox path as a request: planned with
//! no I/O, shown redacted by dry runs and the attempt log, carried out once per attempt
//! by the step runner as the plan's one step, its result classified into the shared
//! [`Outcome`] — so retries, dead deliveries, `deliveries show` and credential alerts work
//! as for every other action.

use super::Outcome;
use async_trait::async_trait;
use serde_json::Value;

#[async_trait]
pub trait Effect: Send + Sync + std::fmt::Debug {
    /// Carry the effect out once, all or nothing, and say how it went: `Done` with the
    /// facts kept as the attempt's response, `Transient` to retry on the schedule,
    /// `Permanent` when retrying cannot help, `Credential` when the credential was refused.
    /// It must end within its own time limit (the action's `timeout`).
    async fn apply(&self) -> Outcome;

    /// What it would do, as JSON with secrets redacted: printed by dry runs and kept in the
    /// attempt log. A `purpose` string, if present, is printed first.
    fn describe(&self) -> Value;
}

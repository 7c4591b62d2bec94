//! Asking a destination whether herald's credential for it works, without doing anything
//! that shows (`herald check --online`). Each action kind names its checks
//! (`Action::credential_checks`): a request that reads and changes nothing, and how its
//! integration reads the answer.

use super::{Outcome, PlannedRequest};
use crate::transport::{self, Answer};
use chrono::{DateTime, Utc};

/// The answers to such requests are small.
const BODY_LIMIT: usize = 64 << 10;

/// One credential of an action, and how to ask its destination about it.
#[derive(Debug, Clone)]
pub struct CredentialCheck {
    /// The credential as the configuration names it: "Slack token `slack_bot`".
    pub credential: String,
    /// A request that changes nothing: Slack's `auth.test`, GitHub's `/rate_limit`. With
    /// `authorize` (a GitHub App), fetching the installation token is part of the check.
    pub request: PlannedRequest,
    /// How the answer reads, as the integration classifies its provider's answers.
    pub read: fn(&Answer, DateTime<Utc>) -> Outcome,
}

/// What the destination said about a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialStatus {
    Ok,
    /// Refused, in the provider's words (a revoked token, an unknown installation).
    Refused(String),
    /// No answer that tells: no connection, a server error, a rate limit.
    Unreachable(String),
}

impl CredentialCheck {
    /// Send the request (once) and read the answer.
    pub async fn run(&self, http: &reqwest::Client, now: DateTime<Utc>) -> CredentialStatus {
        let request = match &self.request.authorize {
            Some(authorize) => match authorize.authorization(http, now).await {
                Ok(value) => match self.request.with_authorization(&value) {
                    Ok(request) => request,
                    Err(error) => return CredentialStatus::Refused(error),
                },
                Err(outcome) => return status_of(outcome),
            },
            None => self.request.clone(),
        };
        match transport::send(http, &request, BODY_LIMIT).await {
            Ok(answer) => status_of((self.read)(&answer, now)),
            Err(error) => CredentialStatus::Unreachable(error),
        }
    }
}

fn status_of(outcome: Outcome) -> CredentialStatus {
    match outcome {
        Outcome::Done { .. } => CredentialStatus::Ok,
        Outcome::Credential { error } | Outcome::Permanent { error } => {
            CredentialStatus::Refused(error)
        }
        Outcome::Transient { error, .. } | Outcome::RateLimited { error, .. } => {
            CredentialStatus::Unreachable(error)
        }
    }
}

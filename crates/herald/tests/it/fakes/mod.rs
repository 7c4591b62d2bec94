//! Faithful fakes of the third-party APIs herald calls, on port 0, built from their
//! documented requests and answers (../shared/reference/seed1_4_apis.md).

pub mod circleci;
pub mod github;
pub mod jira;
pub mod slack;
pub mod workos;

//! One folder per integration: its source kinds (verification, parsing), its action
//! kinds, its config section and template filters, each registered in the folder's
//! `INTEGRATION`; plus the signature helpers the sources share. `ALL` lists the folders.

pub mod circleci;
pub mod deploybot;
pub mod generic_hmac;
pub mod github;
pub mod http;
pub mod jira;
pub mod log;
pub mod poller;
pub mod signature;
pub mod slack;
pub mod sql;
pub mod standard_webhooks;
pub mod token;

#[cfg(test)]
mod test_support;

use crate::kit::{Catalog, Integration};

/// Every integration herald is built with. A new folder adds its line here.
pub const ALL: &[Integration] = &[
    github::INTEGRATION,
    slack::INTEGRATION,
    circleci::INTEGRATION,
    jira::INTEGRATION,
    deploybot::INTEGRATION,
    standard_webhooks::INTEGRATION,
    generic_hmac::INTEGRATION,
    token::INTEGRATION,
    http::INTEGRATION,
    sql::INTEGRATION,
    log::INTEGRATION,
    poller::INTEGRATION,
];

/// The catalog configuration files are read with.
pub fn catalog() -> Catalog {
    Catalog { integrations: ALL }
}

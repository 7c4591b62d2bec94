//! One folder per integration: its source kind (verification, parsing), its actions and
//! its configuration; plus the signature and body helpers the sources share.

pub mod circleci;
pub mod generic_hmac;
pub mod github;
pub mod http;
pub mod log;
pub mod signature;
pub mod slack;
pub mod standard_webhooks;
pub mod token;

#[cfg(test)]
mod test_support;

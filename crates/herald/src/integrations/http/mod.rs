//! `kind = "http"`: a templated HTTP request to an allowed host.

pub mod action;
pub mod allow;
pub mod config;
pub mod send;

pub use action::HttpAction;

pub const KIND: &str = "http";

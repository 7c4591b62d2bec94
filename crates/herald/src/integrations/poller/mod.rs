//! The generic cursor-API poller (`kind = "poller"`): a source herald pulls. It asks an
//! HTTP API for the items after a cursor (`?after=<last id>`), or from a time when it has
//! none, reads a page of JSON (the items, each one's id, type and time, and the next
//! cursor, each at a dotted path), and follows the pages to the end. WorkOS's Events API is
//! the model (`herald init --preset workos-sync`); any API that pages with a cursor fits.
//!
//! The folder says how to ask and how to read; `polling/` runs it.

use crate::kit::{Integration, PollerKind};

mod api;
pub mod config;
mod path;

pub use api::CursorPoller;

/// The kind name.
pub const KIND: &str = "poller";

/// What this folder provides.
pub const INTEGRATION: Integration = Integration {
    pollers: &[PollerKind {
        name: KIND,
        build: config::build,
        options: config::options,
    }],
    ..Integration::named("poller")
};

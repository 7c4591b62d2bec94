//! The contract every poller kind implements: a source herald pulls from an API instead of
//! being pushed to. A kind says how to ask for a page (after a cursor, or from a time when
//! there is none) and how to read one; the runtime (`polling/`) sends the requests,
//! follows the pages, stores each page with its cursor, and waits.
//!
//! Both halves are pure: building a request does no I/O and reading a page only parses.

use super::source::{Inbound, ParseError, Parsed, RawRequest, Source, VerifyError};
use crate::action::Runbook;
use chrono::{DateTime, Utc};
use http::HeaderMap;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Where a page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageAt<'a> {
    /// After this cursor (the last item already read).
    After(&'a str),
    /// The first page when there is no cursor: items from `start` (if the API can filter
    /// by time), up to `end` (a backfill's end).
    Range {
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
    },
}

/// A request for one page: a GET of `url` (its query included) with `headers`, which hold
/// the credentials and are never logged or stored.
#[derive(Clone)]
pub struct PageRequest {
    pub url: url::Url,
    pub headers: HeaderMap,
    pub timeout: Duration,
}

/// One page as the kind read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<PolledItem>,
    /// The cursor of the next page; None when this is the last one.
    pub next: Option<String>,
}

/// One item of a page: what becomes an event of the source.
#[derive(Debug, Clone, PartialEq)]
pub struct PolledItem {
    /// The item's id: the event's dedup key, and the cursor after it.
    pub id: String,
    pub event_type: String,
    /// The item's own time, when it has one (for lag and a backfill's end).
    pub time: Option<DateTime<Utc>>,
    pub payload: Value,
}

/// Where a poller without a cursor starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// At its first poll: nothing older is read (a backfill reads it).
    Now,
    At(DateTime<Utc>),
}

/// When and how a poller polls.
#[derive(Debug, Clone, PartialEq)]
pub struct PollSettings {
    /// The wait between two polls that reached the end (unless `cron` is set), and the
    /// scale of the backoff after failures.
    pub interval: Duration,
    /// Poll at these times instead of `interval` after the last poll.
    pub cron: Option<PollCron>,
    /// How long one page request may take.
    pub timeout: Duration,
    pub start: Start,
    /// The largest answer read, in bytes.
    pub max_page: usize,
}

/// A poller's `cron` and the time zone it is read in.
#[derive(Debug, Clone, PartialEq)]
pub struct PollCron {
    pub cron: croner::Cron,
    pub zone: chrono_tz::Tz,
}

impl PollSettings {
    /// When the next poll is due after one that reached the end at `end`.
    pub fn next_poll(&self, end: DateTime<Utc>) -> DateTime<Utc> {
        let every = || end + chrono::Duration::from_std(self.interval).unwrap_or_default();
        let Some(schedule) = &self.cron else {
            return every();
        };
        let local = end.with_timezone(&schedule.zone);
        match schedule.cron.find_next_occurrence(&local, false) {
            Ok(next) => next.with_timezone(&Utc),
            // A pattern that never occurs again (refused at load): fall back to the interval.
            Err(_) => every(),
        }
    }
}

/// A poller kind, built from its options by its integration (`integrations/poller/`).
pub trait Poller: Send + Sync + 'static {
    /// The configuration `kind` this implements, e.g. `poller`.
    fn kind(&self) -> &'static str;

    fn settings(&self) -> &PollSettings;

    /// Where pages come from, for messages and status: no credentials.
    fn describe(&self) -> String;

    /// The request for the page at `at`.
    fn request(&self, at: PageAt<'_>) -> PageRequest;

    /// Read a page from the body of a 2xx answer.
    fn read(&self, body: &[u8]) -> Result<Page, ParseError>;

    /// Read one item, as a page holds it (`herald send` to a poller source).
    fn item(&self, item: Value) -> Result<PolledItem, ParseError>;

    /// The names of the secrets the API authenticates herald with, for alerts.
    fn credential_secrets(&self) -> Vec<&str>;

    /// The provider's steps for a refused credential.
    fn credential_runbook(&self) -> Runbook {
        Runbook::GENERIC
    }
}

/// A poller seen as a `Source`: it refuses every push (ingest says so before verifying),
/// and reads a JSON item as a page would hold it, so `herald send` can feed one through
/// the rules.
pub struct PolledSource(pub Arc<dyn Poller>);

impl Source for PolledSource {
    fn kind(&self) -> &'static str {
        self.0.kind()
    }

    fn verify(&self, _request: &RawRequest<'_>, _now: DateTime<Utc>) -> Result<(), VerifyError> {
        Err(VerifyError::CredentialMismatch)
    }

    fn parse(&self, request: &RawRequest<'_>) -> Result<Parsed, ParseError> {
        let value: Value = serde_json::from_slice(request.body)
            .map_err(|error| ParseError::new(format!("the item is not JSON: {error}")))?;
        let item = self.0.item(value)?;
        Ok(Parsed::Event(Inbound {
            event_type: item.event_type,
            dedup_key: Some(item.id),
            payload: item.payload.into(),
        }))
    }
}

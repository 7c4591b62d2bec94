//! Options of `jira-transition` and `jira-comment`: `url` (the site, e.g.
//! `https://acme.atlassian.net`; else `[jira] url`), `email` + `token` (HTTP Basic with an API token) or
//! `token` alone (a bearer token), `tickets` (a template), `once_per`; the transition's
//! `event`, the comment's `body`.

use super::api::Auth;
use super::cache::TransitionCache;
use super::comment::CommentAction;
use super::settings::JiraConfig;
use super::target::{Target, Tickets};
use super::transition::TransitionAction;
use crate::action::Action;
use crate::core::template::{Escape, TemplateRef};
use crate::kit::build::Builder;
use crate::kit::document::Item;
use crate::kit::{ActionCommon, keys};
use serde::Deserialize;
use std::sync::Arc;
use toml::Spanned;

/// A ticket moves or is commented once per event unless `once_per` says otherwise.
const DEFAULT_ONCE_PER: &str = "{{ meta.id }}";
/// The tickets of a GitHub release's notes.
const DEFAULT_TICKETS: &str = "{{ event.release.body | jira_keys }}";

/// The options both kinds take.
struct Shared<'a> {
    url: &'a Option<Spanned<String>>,
    email: &'a Option<Spanned<String>>,
    token: &'a Spanned<String>,
    tickets: &'a Option<Spanned<String>>,
    once_per: &'a Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransitionOptions {
    url: Option<Spanned<String>>,
    email: Option<Spanned<String>>,
    token: Spanned<String>,
    tickets: Option<Spanned<String>>,
    event: Option<Spanned<String>>,
    once_per: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommentOptions {
    url: Option<Spanned<String>>,
    email: Option<Spanned<String>>,
    token: Spanned<String>,
    tickets: Option<Spanned<String>>,
    body: Spanned<String>,
    once_per: Option<Spanned<String>>,
}

pub fn build_transition(
    options: Item<'_>,
    common: &ActionCommon,
    builder: &mut Builder<'_>,
) -> Option<Arc<dyn Action>> {
    let span = options.span();
    let options: TransitionOptions = builder.options(options)?;
    let settings = JiraConfig::of(builder.sections);
    if settings.machines.is_empty() {
        builder.error(span.clone(), "`jira-transition` needs a state machine: add `[jira.machines.<project>]` or `[jira] state_machines = \"…\"`");
    }
    let shared = Shared {
        url: &options.url,
        email: &options.email,
        token: &options.token,
        tickets: &options.tickets,
        once_per: &options.once_per,
    };
    let target = shared.target(super::transition::KIND, span, common, builder);
    let event = options
        .event
        .map_or_else(|| "next".to_string(), Spanned::into_inner);
    Some(Arc::new(TransitionAction {
        target: target?,
        event,
        cache: Arc::new(TransitionCache::new(settings.transitions_ttl)),
    }))
}

pub fn build_comment(
    options: Item<'_>,
    common: &ActionCommon,
    builder: &mut Builder<'_>,
) -> Option<Arc<dyn Action>> {
    let span = options.span();
    let options: CommentOptions = builder.options(options)?;
    let shared = Shared {
        url: &options.url,
        email: &options.email,
        token: &options.token,
        tickets: &options.tickets,
        once_per: &options.once_per,
    };
    let target = shared.target(super::comment::KIND, span, common, builder);
    let body = builder.template("body", &options.body, Escape::None);
    Some(Arc::new(CommentAction {
        target: target?,
        body: body?,
    }))
}

impl Shared<'_> {
    /// Where Jira is, how to sign in, the tickets, `once_per`, one delivery at a time.
    fn target(
        &self,
        kind: &str,
        span: std::ops::Range<usize>,
        common: &ActionCommon,
        builder: &mut Builder<'_>,
    ) -> Option<Target> {
        let settings = JiraConfig::of(builder.sections);
        let url = match (self.url, &settings.url) {
            (Some(own), _) => builder.interpolate(own),
            (None, Some(site)) => Some(site.clone()),
            (None, None) => {
                builder.error(
                    span.clone(),
                    format!("`{kind}` needs the Jira site: set `url` here, or `[jira] url` for every Jira action"),
                );
                None
            }
        };
        let auth = self.auth(builder);
        let tickets = tickets(self.tickets, builder, &settings);
        let once_per = optional(
            builder,
            "once_per",
            self.once_per,
            DEFAULT_ONCE_PER,
            span.clone(),
        );
        let ordering = builder.one_at_a_time(kind, span);
        Some(Target {
            auth: auth?,
            url: url?,
            tickets: tickets?,
            once_per: once_per?,
            ordering: ordering?,
            timeout: common.timeout,
        })
    }

    /// HTTP Basic `email:token` with an email, else a bearer token.
    fn auth(&self, builder: &mut Builder<'_>) -> Option<Auth> {
        let token = builder.secret(self.token);
        match self.email {
            Some(email) => {
                let email = builder.interpolate(email);
                email
                    .zip(token)
                    .map(|(email, token)| Auth::Basic { email, token })
            }
            None => token.map(Auth::Bearer),
        }
    }
}

fn tickets(
    source: &Option<Spanned<String>>,
    builder: &mut Builder<'_>,
    settings: &JiraConfig,
) -> Option<Tickets> {
    let template = match source {
        Some(source) => builder.template("tickets", source, Escape::None),
        None => builder.template_text(
            "tickets",
            &Spanned::new(0..0, DEFAULT_TICKETS.into()),
            Escape::None,
        ),
    };
    Some(Tickets {
        template: template?,
        settings: settings.clone(),
    })
}

fn optional(
    builder: &mut Builder<'_>,
    part: &str,
    source: &Option<Spanned<String>>,
    default: &str,
    span: std::ops::Range<usize>,
) -> Option<TemplateRef> {
    match source {
        Some(source) => builder.template(part, source, Escape::None),
        None => builder.template_text(part, &Spanned::new(span, default.into()), Escape::None),
    }
}

pub fn transition_options() -> Vec<String> {
    keys::keys_of::<TransitionOptions>()
}

pub fn comment_options() -> Vec<String> {
    keys::keys_of::<CommentOptions>()
}

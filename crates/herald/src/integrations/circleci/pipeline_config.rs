//! `kind = "circleci-pipeline"` options: `token` (a secret name), `project_slug`, `branch`
//! or `tag`, `parameters` (a JSON template), `key`, `api_url` (else `[circleci] api_url`, else
//! CircleCI's).

use super::pipeline::{PipelineAction, Revision};
use crate::action::Action;
use crate::core::template::{Escape, TemplateRef};
use crate::kit::build::Builder;
use crate::kit::document::Item;
use crate::kit::{ActionCommon, keys};
use serde::Deserialize;
use std::sync::Arc;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    token: Spanned<String>,
    project_slug: Spanned<String>,
    branch: Option<Spanned<String>>,
    tag: Option<Spanned<String>>,
    parameters: Option<Spanned<String>>,
    key: Option<Spanned<String>>,
    api_url: Option<Spanned<String>>,
}

pub fn build(
    options: Item<'_>,
    common: &ActionCommon,
    builder: &mut Builder<'_>,
) -> Option<Arc<dyn Action>> {
    let span = options.span();
    let options: Options = builder.options(options)?;
    if options.branch.is_some() && options.tag.is_some() {
        builder.error(
            span,
            "give `branch` or `tag`, not both: CircleCI refuses both",
        );
        return None;
    }
    let token = builder.secret(&options.token);
    let project_slug = builder.template("project_slug", &options.project_slug, Escape::None);
    let revision = match (&options.branch, &options.tag) {
        (Some(branch), _) => Some(template(builder, "branch", branch).map(Revision::Branch)),
        (_, Some(tag)) => Some(template(builder, "tag", tag).map(Revision::Tag)),
        _ => None,
    };
    let parameters = options
        .parameters
        .as_ref()
        .map(|p| builder.template("parameters", p, Escape::Json));
    let key = options
        .key
        .as_ref()
        .map(|key| template(builder, "key", key));
    let section = super::settings::CircleciConfig::of(builder.sections);
    let api_url = builder.url_or(options.api_url.as_ref(), section.api_url());
    Some(Arc::new(PipelineAction {
        token: token?,
        api_url: api_url?,
        project_slug: project_slug?,
        revision: revision.map(|r| r.ok_or(())).transpose().ok()?,
        parameters: parameters.map(|p| p.ok_or(())).transpose().ok()?,
        key: key.map(|k| k.ok_or(())).transpose().ok()?,
        timeout: common.timeout,
    }))
}

fn template(
    builder: &mut Builder<'_>,
    part: &str,
    source: &Spanned<String>,
) -> Option<TemplateRef> {
    builder.template(part, source, Escape::None)
}

pub fn options() -> Vec<String> {
    keys::keys_of::<Options>()
}

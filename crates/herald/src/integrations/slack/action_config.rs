//! `kind = "slack"` options: `token` (a secret name), `channel`, `text`, `blocks`, and for a
//! remembered message `key`, `reply_text`, `reply_blocks`, `update`, `reply_to_new`,
//! `if_missing`, `max_replies`, `rotation_notice`, `supersede`; `api_url` (else `[slack] api_url`, else Slack's).

use super::action::{Content, IfMissing, Rotation, SlackAction, Supersede};
use crate::action::{Action, OrderingKey};
use crate::core::template::{Escape, TemplateRef};
use crate::kit::ActionCommon;
use crate::kit::build::Builder;
use crate::kit::document::Item;
use serde::Deserialize;
use std::sync::Arc;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    token: Spanned<String>,
    channel: Option<Spanned<String>>,
    text: Option<Spanned<String>>,
    blocks: Option<Spanned<String>>,
    key: Option<Spanned<String>>,
    reply_text: Option<Spanned<String>>,
    reply_blocks: Option<Spanned<String>>,
    #[serde(default)]
    update: bool,
    #[serde(default)]
    reply_to_new: bool,
    if_missing: Option<Spanned<IfMissing>>,
    max_replies: Option<Spanned<u64>>,
    rotation_notice: Option<String>,
    supersede: Option<Spanned<RawSupersede>>,
    retire_group: Option<Spanned<String>>,
    api_url: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSupersede {
    group: Spanned<String>,
    keep: Option<Spanned<String>>,
    notice: Option<String>,
}

const ROTATION_NOTICE: &str = "🧵 *Thread discontinued*\nThis thread will stop receiving updates due to many replies. A new thread has been opened for new updates.";
const SUPERSEDED_NOTICE: &str = "🧹 *Superseded!*\nThis thread will stop receiving updates!";

pub fn build(
    options: Item<'_>,
    common: &ActionCommon,
    builder: &mut Builder<'_>,
) -> Option<Arc<dyn Action>> {
    let span = options.span();
    let options: Options = builder.options(options)?;
    check_shape(&options, span, builder)?;
    let token = builder.secret(&options.token);
    let channel = optional_template(builder, "channel", &options.channel, Escape::None);
    let message = content(builder, "text", &options.text, "blocks", &options.blocks);
    let reply = content(
        builder,
        "reply_text",
        &options.reply_text,
        "reply_blocks",
        &options.reply_blocks,
    );
    let key = optional_template(builder, "key", &options.key, Escape::None);
    let settings = super::settings::SlackConfig::of(builder.sections);
    let api_url = builder.url_or(options.api_url.as_ref(), settings.api_url());
    let rotation = rotation(&options, builder);
    let supersede = options
        .supersede
        .as_ref()
        .map(|raw| build_supersede(raw, builder));
    let retire_group =
        optional_template(builder, "retire_group", &options.retire_group, Escape::None);
    let (token, channel, key) = (token?, channel?, key?);
    // check_shape made sure there is a key or a channel.
    let ordering = match (&key, &channel) {
        (Some(key), _) => OrderingKey {
            prefix: "slack:key:".into(),
            template: key.clone(),
        },
        (None, Some(channel)) => OrderingKey {
            prefix: format!("slack:channel:{}:", token.name()),
            template: channel.clone(),
        },
        (None, None) => return None,
    };
    Some(Arc::new(SlackAction {
        token,
        api_url: api_url?,
        channel,
        message: message?,
        key,
        reply: reply?,
        update: options.update,
        if_missing: options.if_missing.map_or(IfMissing::Post, |m| *m.get_ref()),
        reply_to_new: options.reply_to_new,
        rotation: rotation?,
        supersede: supersede.map(|s| s.ok_or(())).transpose().ok()?,
        retire_group: retire_group?,
        timeout: common.timeout,
        settings,
        ordering: Some(ordering),
    }))
}

fn rotation(options: &Options, builder: &mut Builder<'_>) -> Option<Option<Rotation>> {
    match &options.max_replies {
        Some(max) if *max.get_ref() == 0 => {
            builder.error(max.span(), "`max_replies` must be at least 1");
            None
        }
        Some(max) => Some(Some(Rotation {
            max_replies: *max.get_ref(),
            notice: options
                .rotation_notice
                .clone()
                .unwrap_or_else(|| ROTATION_NOTICE.to_string()),
        })),
        None => Some(None),
    }
}

fn build_supersede(raw: &Spanned<RawSupersede>, builder: &mut Builder<'_>) -> Option<Supersede> {
    let raw = raw.get_ref();
    let group = builder.template("supersede.group", &raw.group, Escape::None);
    let keep_default = Spanned::new(raw.group.span(), "1".to_string());
    let keep = builder.template(
        "supersede.keep",
        raw.keep.as_ref().unwrap_or(&keep_default),
        Escape::None,
    );
    Some(Supersede {
        group: group?,
        keep: keep?,
        notice: raw
            .notice
            .clone()
            .unwrap_or_else(|| SUPERSEDED_NOTICE.to_string()),
    })
}

/// `Some(None)` when absent, `None` when the template does not compile (already reported).
fn optional_template(
    builder: &mut Builder<'_>,
    name: &str,
    source: &Option<Spanned<String>>,
    escape: Escape,
) -> Option<Option<TemplateRef>> {
    match source {
        Some(source) => builder.template(name, source, escape).map(Some),
        None => Some(None),
    }
}

/// Which options go together, so a mistake is a load error and not a dead delivery.
fn check_shape(
    options: &Options,
    span: std::ops::Range<usize>,
    builder: &mut Builder<'_>,
) -> Option<()> {
    let has_message = options.text.is_some() || options.blocks.is_some();
    let has_reply = options.reply_text.is_some() || options.reply_blocks.is_some();
    let if_missing = options
        .if_missing
        .as_ref()
        .map_or(IfMissing::Post, |m| *m.get_ref());
    let problem = if options.key.is_none() {
        if has_reply
            || options.update
            || options.reply_to_new
            || options.if_missing.is_some()
            || options.max_replies.is_some()
            || options.supersede.is_some()
            || options.retire_group.is_some()
        {
            Some(
                "`reply_text`, `reply_blocks`, `update`, `reply_to_new`, `if_missing`, `max_replies` and `supersede` need a `key`",
            )
        } else if options.channel.is_none() || !has_message {
            Some("a Slack action needs `channel` and `text` or `blocks`")
        } else {
            None
        }
    } else if if_missing == IfMissing::Post && (options.channel.is_none() || !has_message) {
        Some(
            "posting the first message for a key needs `channel` and `text` or `blocks` (or set if_missing = \"skip\")",
        )
    } else if options.update && !has_message {
        Some("`update = true` re-renders `text` / `blocks`: give one")
    } else if options.reply_to_new && !has_reply {
        Some(
            "`reply_to_new = true` posts `reply_text` / `reply_blocks` in the new thread: give one",
        )
    } else if !has_reply && !options.update && if_missing != IfMissing::Post {
        Some(
            "this action would never do anything: give `reply_text`, `update = true` or if_missing = \"post\"",
        )
    } else {
        None
    };
    match problem {
        Some(message) => {
            builder.error(span, message);
            None
        }
        None => Some(()),
    }
}

fn content(
    builder: &mut Builder<'_>,
    text_name: &str,
    text: &Option<Spanned<String>>,
    blocks_name: &str,
    blocks: &Option<Spanned<String>>,
) -> Option<Content> {
    let text = optional_template(builder, text_name, text, Escape::None);
    let blocks = optional_template(builder, blocks_name, blocks, Escape::Json);
    Some(Content {
        text: text?,
        blocks: blocks?,
    })
}

/// A Slack action that only sends what it is given (`slack-retire` posts its notices
/// through it).
pub fn poster(
    token: crate::secret::Secret,
    api_url: String,
    timeout: std::time::Duration,
    settings: super::settings::SlackConfig,
) -> SlackAction {
    SlackAction {
        token,
        api_url,
        channel: None,
        message: Content::default(),
        key: None,
        reply: Content::default(),
        update: false,
        if_missing: IfMissing::Skip,
        reply_to_new: false,
        rotation: None,
        supersede: None,
        retire_group: None,
        timeout,
        settings,
        ordering: None,
    }
}

pub fn options() -> Vec<String> {
    crate::kit::keys::keys_of::<Options>()
}

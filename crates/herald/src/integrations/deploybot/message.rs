//! The one Slack message of a deployment, as its text reads at each step: what is deployed
//! where, its status, who asked and who wrote the commit (@mentioned when linked), and
//! links to the commit, the CircleCI build and the environment.

use super::routing::short_ref;
use super::state::{Deployment, Status};
use crate::integrations::slack::filters::{slack_escape, slack_link};

/// The people of a deployment, as the message names them: `<@U1>` when linked, else
/// `@login`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct People {
    pub requested_by: Option<String>,
    pub author: Option<String>,
}

/// The message's text for `record` as it stands.
pub fn text(record: &Deployment, people: &People, web_url: &str) -> String {
    let mut lines = vec![format!(
        "{} Deployment of `{}` to *{}*: {}",
        emoji(record.status),
        slack_escape(short_ref(&record.git_ref).to_string()),
        slack_escape(record.environment.clone()),
        record.status.word()
    )];
    let mut details = Vec::new();
    if let Some(who) = &people.requested_by {
        details.push(format!("requested by {who}"));
    }
    if let Some(sha) = &record.sha {
        let commit = format!(
            "{}/{}/commit/{sha}",
            web_url.trim_end_matches('/'),
            record.repository
        );
        let short = sha.get(..7).unwrap_or(sha).to_string();
        let mut link = format!("commit {}", slack_link(commit, Some(short)));
        if let Some(author) = &people.author {
            link.push_str(&format!(" by {author}"));
        }
        details.push(link);
    } else if let Some(author) = &people.author {
        details.push(format!("by {author}"));
    }
    if let Some(number) = record.pull_request {
        let pull = format!(
            "{}/{}/pull/{number}",
            web_url.trim_end_matches('/'),
            record.repository
        );
        details.push(slack_link(pull, Some(format!("#{number}"))));
    }
    if let Some(build) = record.build_link() {
        details.push(slack_link(build, Some("CircleCI build".into())));
    } else if let Some(number) = record.pipeline_number {
        details.push(format!("CircleCI pipeline {number}"));
    }
    if let Some(url) = &record.url {
        details.push(slack_link(url.clone(), Some(url.clone())));
    }
    if !details.is_empty() {
        lines.push(details.join(" · "));
    }
    lines.join("\n")
}

fn emoji(status: Status) -> &'static str {
    match status {
        Status::Waiting => ":hourglass_flowing_sand:",
        Status::Created => ":rocket:",
        Status::Building => ":hammer_and_wrench:",
        Status::Success => ":white_check_mark:",
        Status::Failure => ":x:",
        Status::Error => ":warning:",
    }
}

/// `<@U1>` for a linked Slack user, else `@login`.
pub fn mention(slack_user: Option<&str>, login: &str) -> String {
    match slack_user {
        Some(user) => format!("<@{user}>"),
        None => format!("@{}", slack_escape(login.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_names_the_status_people_and_links() {
        let record = Deployment {
            repository: "acme/web".into(),
            environment: "staging".into(),
            git_ref: "refs/heads/main".into(),
            sha: Some("0123456789abcdef0123456789abcdef01234567".into()),
            status: Status::Building,
            build_url: Some("https://circleci.com/gh/acme/web/171".into()),
            url: Some("https://staging.example.com/".into()),
            ..Deployment::default()
        };
        let people = People {
            requested_by: Some(mention(Some("U1"), "alice")),
            author: Some(mention(None, "bob")),
        };
        let text = text(&record, &people, "https://github.com");
        assert_eq!(
            text,
            ":hammer_and_wrench: Deployment of `main` to *staging*: building\n\
             requested by <@U1> · commit <https://github.com/acme/web/commit/0123456789abcdef0123456789abcdef01234567|0123456> by @bob · <https://circleci.com/gh/acme/web/171|CircleCI build> · <https://staging.example.com/|https://staging.example.com/>"
        );
    }
}

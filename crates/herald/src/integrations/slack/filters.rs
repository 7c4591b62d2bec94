//! Slack's template filters: mrkdwn escaping, links, and mentions of GitHub logins mapped
//! in `[slack] users`.

use super::settings::SlackConfig;
use crate::core::template::Filters;
use crate::kit::Sections;
use std::collections::BTreeMap;
use std::sync::Arc;

pub fn register(env: &mut Filters<'_>, sections: &Sections) {
    let people = Arc::new(SlackConfig::of(sections).users);
    env.add_filter("slack_escape", slack_escape);
    env.add_filter("slack_link", slack_link);
    env.add_filter("slack_mention", move |login: String| {
        slack_mention(&people, &login)
    });
}

/// Slack's three control characters, escaped as Slack asks: `&`, `<`, `>`.
pub fn slack_escape(text: String) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `<url|text>`: the text is escaped, and `|` and `>` in the URL are percent-encoded so
/// they cannot end the link early.
pub fn slack_link(url: String, text: Option<String>) -> String {
    let url = url
        .replace('|', "%7C")
        .replace('>', "%3E")
        .replace('<', "%3C");
    match text {
        Some(text) if !text.is_empty() => format!("<{url}|{}>", slack_escape(text)),
        _ => format!("<{url}>"),
    }
}

/// `<@U123>` for a mapped GitHub login, otherwise `@login` (escaped) so the name still reads.
pub fn slack_mention(people: &BTreeMap<String, String>, login: &str) -> String {
    match people.get(login) {
        Some(user_id) => format!("<@{user_id}>"),
        None => format!("@{}", slack_escape(login.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &str) -> Result<String, minijinja::Error> {
        let mut env = minijinja::Environment::new();
        let users = BTreeMap::from([("octocat".to_string(), "U024BE7LH".to_string())]);
        let slack = SlackConfig {
            users,
            ..SlackConfig::default()
        };
        let sections = Sections::with(super::super::settings::SECTION, Arc::new(slack));
        register(&mut Filters::on(&mut env), &sections);
        env.render_str(template, minijinja::context! {})
    }

    #[test]
    fn slack_text_helpers() {
        let cases = [
            (
                r#"{{ "a < b & c > d" | slack_escape }}"#,
                "a &lt; b &amp; c &gt; d",
            ),
            (
                r#"{{ "https://x.io/a?b=1|2" | slack_link("PR <1> & co") }}"#,
                "<https://x.io/a?b=1%7C2|PR &lt;1&gt; &amp; co>",
            ),
            (r#"{{ "https://x.io" | slack_link }}"#, "<https://x.io>"),
            (r#"{{ "octocat" | slack_mention }}"#, "<@U024BE7LH>"),
            (r#"{{ "<stranger>" | slack_mention }}"#, "@&lt;stranger&gt;"),
        ];
        for (template, expected) in cases {
            assert_eq!(render(template).unwrap(), expected, "{template}");
        }
    }
}

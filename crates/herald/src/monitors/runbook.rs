//! What to do when a destination refuses herald's credentials, per action kind. From the
//! Pact → GitHub guide: a machine user's classic PAT, stored as a named secret.

/// The steps for an action of `kind` whose secret `secret` is read from `origin`.
pub fn credential_runbook(kind: &str, secret: &str, origin: &str, action: &str) -> String {
    let replace = format!(
        "Put the new token where herald reads the secret `{secret}`: {origin}. Restart herald (or roll the replicas) so it is read again."
    );
    let test = format!(
        "Test it: `herald test <rule>` for a rule that uses `{action}` must answer 2xx. Then re-send what failed: `herald replay --action {action} --status dead`."
    );
    let steps: Vec<String> = if kind.starts_with("github") {
        vec![
            "Log in to GitHub as the dedicated machine user that owns the token (not a personal account).".into(),
            "Settings → Developer settings → Personal access tokens → Tokens (classic) → Generate new token (classic): scope `repo` (required by repository_dispatch), no expiration, named e.g. `herald-<date>`.".into(),
            replace,
            test,
            "Revoke the old token in the machine user's settings so a leaked copy cannot be reused.".into(),
        ]
    } else if kind == "slack" {
        vec![
            "Open the Slack app at https://api.slack.com/apps → OAuth & Permissions; reinstall the app if the token was revoked, and copy the Bot User OAuth Token (`xoxb-…`). It needs the `chat:write` scope.".into(),
            replace,
            test,
        ]
    } else {
        vec![
            "Issue a new credential at the destination.".into(),
            replace,
            test,
        ]
    };
    steps
        .iter()
        .enumerate()
        .map(|(n, step)| format!("{}. {step}", n + 1))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_runbook_names_the_scope_the_secret_and_the_test() {
        let text = credential_runbook(
            "github-dispatch",
            "gh_token",
            "${env:GITHUB_TOKEN}",
            "dispatch",
        );
        assert!(text.contains("machine user"));
        assert!(text.contains("classic"));
        assert!(text.contains("`repo`"));
        assert!(text.contains("`gh_token`: ${env:GITHUB_TOKEN}"));
        assert!(text.contains("herald test"));
        assert!(text.starts_with("1. "));
    }
}

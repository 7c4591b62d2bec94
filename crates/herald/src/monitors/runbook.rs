//! What to do when a destination refuses herald's credentials: the integration's own
//! steps (`Action::credential_runbook`) around replacing the secret and testing it.

use crate::action::Runbook;

/// The numbered steps for `action`, whose integration gives `runbook`, and whose secret `secret` is read from `origin`.
pub fn credential_runbook(runbook: Runbook, secret: &str, origin: &str, action: &str) -> String {
    let replace = format!(
        "Put the new token where herald reads the secret `{secret}`: {origin}. Restart herald (or roll the replicas) so it is read again."
    );
    let test = format!(
        "Test it: `herald test <rule>` for a rule that uses `{action}` must answer 2xx. Then re-send what failed: `herald replay --action {action} --status dead`."
    );
    numbered(runbook, [replace, test])
}

/// The numbered steps for poller `source`, whose kind gives `runbook`, and whose secret
/// `secret` is read from `origin`.
pub fn poller_runbook(runbook: Runbook, secret: &str, origin: &str, source: &str) -> String {
    let replace = format!(
        "Put the new key where herald reads the secret `{secret}`: {origin}. Restart herald (or roll the replicas) so it is read again."
    );
    let test = format!(
        "Test it: `herald poll {source} --once` must succeed. It reads from the stored cursor, so nothing published meanwhile is missed."
    );
    numbered(runbook, [replace, test])
}

fn numbered(runbook: Runbook, middle: [String; 2]) -> String {
    let steps: Vec<String> = runbook
        .before
        .iter()
        .map(|step| step.to_string())
        .chain(middle)
        .chain(runbook.after.iter().map(|step| step.to_string()))
        .collect();
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
    fn the_integrations_steps_surround_replacing_and_testing_the_secret() {
        let runbook = Runbook {
            before: &["Issue a token as the machine user."],
            after: &["Revoke the old token."],
        };
        let text = credential_runbook(runbook, "gh_token", "${env:GITHUB_TOKEN}", "dispatch");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(lines[0], "1. Issue a token as the machine user.");
        assert!(lines[1].starts_with(
            "2. Put the new token where herald reads the secret `gh_token`: ${env:GITHUB_TOKEN}."
        ));
        assert!(lines[2].starts_with("3. Test it: `herald test <rule>`"));
        assert!(lines[2].contains("--action dispatch"));
        assert_eq!(lines[3], "4. Revoke the old token.");
    }
}

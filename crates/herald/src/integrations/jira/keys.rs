//! Finding Jira ticket keys in text (release notes, pull request titles, branch names).
//!
//! A key is a project key — an uppercase letter, then uppercase letters, digits or `_` —
//! a `-` and a number, standing on its own: `DEV_OPS-3` and `ABC2-5` are keys; in
//! `DEV-OPS-12` the `OPS-12` is glued to `DEV-` and is not; `soc-4` is lowercase and is
//! not; `SOC-12abc` runs on into letters and is not. Only keys of configured projects
//! count, so `UTF-8` is a ticket only where `UTF` is a project.

use std::collections::BTreeSet;

/// The keys of `projects` (uppercase project keys) in `text`, each once, in the order
/// they first appear.
pub fn find(text: &str, projects: &BTreeSet<String>) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let bytes = text.as_bytes();
    let mut start = 0;
    while start < bytes.len() {
        match key_at(bytes, start) {
            Some(end) => {
                let key = &text[start..end];
                let project = &key[..key.rfind('-').unwrap_or(0)];
                if projects.contains(project) && !found.iter().any(|k| k == key) {
                    found.push(key.to_string());
                }
                start = end;
            }
            None => start += 1,
        }
    }
    found
}

/// Whether `key` is a whole ticket key (`SOC-1`), of any project.
pub fn is_key(key: &str) -> bool {
    key_at(key.as_bytes(), 0) == Some(key.len())
}

/// The project of a key: `SOC` for `SOC-1`.
pub fn project_of(key: &str) -> &str {
    key.rsplit_once('-').map_or(key, |(project, _)| project)
}

/// The end of a key starting at `start`, if one does.
fn key_at(bytes: &[u8], start: usize) -> Option<usize> {
    let glued = |byte: u8| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-';
    if start > 0 && glued(bytes[start - 1]) {
        return None;
    }
    if !bytes.get(start)?.is_ascii_uppercase() {
        return None;
    }
    let project = start
        + bytes[start..]
            .iter()
            .take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || **b == b'_')
            .count();
    if bytes.get(project) != Some(&b'-') {
        return None;
    }
    let number = project + 1;
    let end = number
        + bytes[number..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
    let runs_on = bytes
        .get(end)
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
    (end > number && !runs_on).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn projects(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn keys_of_configured_projects_are_found_once_in_order() {
        let all = projects(&["SOC", "DEVHOP", "DEV_OPS", "ABC2", "OPS"]);
        assert_eq!(
            find("SOC-1, SOC-1 again, DEVHOP-7", &all),
            vec!["SOC-1", "DEVHOP-7"]
        );
        assert_eq!(
            find("* DEV_OPS-3 and ABC2-5.", &all),
            vec!["DEV_OPS-3", "ABC2-5"]
        );
        assert_eq!(find("feature/SOC-12-login (#4)", &all), vec!["SOC-12"]);
        assert_eq!(find("[SOC-9]: fix", &all), vec!["SOC-9"]);
    }

    #[test]
    fn glued_lowercase_and_unconfigured_keys_are_not_tickets() {
        let all = projects(&["SOC", "OPS", "DEV"]);
        assert!(find("DEV-OPS-12 soc-4", &all).is_empty());
        assert!(find("SOC-12abc XSOC-1 SOC- SOC-x", &all).is_empty());
        assert!(find("UTF-8 and ABC-1", &all).is_empty());
        assert_eq!(find("UTF-8", &projects(&["UTF"])), vec!["UTF-8"]);
    }

    #[test]
    fn whole_keys_and_their_projects() {
        assert!(is_key("DEV_OPS-3"));
        assert!(!is_key("DEV-OPS-3"));
        assert!(!is_key("SOC-1 "));
        assert_eq!(project_of("DEV_OPS-3"), "DEV_OPS");
    }
}

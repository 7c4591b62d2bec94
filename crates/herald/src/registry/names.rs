//! The names a registered hook is given: its repository (`owner/name`) and its id, the
//! last segment of its URL.

use std::fmt;

/// The longest id accepted: a URL segment people read and type.
const MAX_ID: usize = 100;

/// A hook's id: URL-safe (`[A-Za-z0-9._-]+`), not `.` or `..`, at most 100 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookId(String);

impl HookId {
    pub fn parse(text: &str) -> Result<HookId, String> {
        if text.is_empty() {
            return Err("must not be empty".to_string());
        }
        if text.len() > MAX_ID {
            return Err(format!("must be at most {MAX_ID} characters"));
        }
        if !text.chars().all(url_safe) {
            return Err(format!(
                "{text:?} is not URL-safe: use letters, digits, `.`, `_` and `-`"
            ));
        }
        if text == "." || text == ".." {
            return Err(format!("{text:?} is not a usable URL segment"));
        }
        Ok(HookId(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HookId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn url_safe(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// A repository in `owner/name` form, as GitHub writes `repository.full_name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    full_name: String,
    slash: usize,
}

impl Repository {
    pub fn parse(text: &str) -> Result<Repository, String> {
        if text.is_empty() {
            return Err("must not be empty".to_string());
        }
        let invalid = || format!("{text:?} is not in `owner/name` form");
        let (owner, name) = text.split_once('/').ok_or_else(invalid)?;
        let part_ok = |part: &str| !part.is_empty() && part.chars().all(url_safe);
        if !part_ok(owner) || !part_ok(name) || name == "." || name == ".." {
            return Err(invalid());
        }
        Ok(Repository {
            full_name: text.to_string(),
            slash: owner.len(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.full_name
    }

    /// The part after the `/`: a hook's id unless another is given.
    pub fn name(&self) -> &str {
        &self.full_name[self.slash + 1..]
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_are_owner_slash_name() {
        let repo = Repository::parse("go-batteries/webhook-test-repo").unwrap();
        assert_eq!(repo.name(), "webhook-test-repo");
        assert_eq!(repo.as_str(), "go-batteries/webhook-test-repo");
        assert_eq!(Repository::parse("a/b.c_d").unwrap().name(), "b.c_d");
        for bad in [
            "webhook-test-repo",
            "/repo",
            "owner/",
            "a/b/c",
            "owner/re po",
            "owner/..",
            " owner/repo",
            "ow ner/repo",
            "owner/répo",
        ] {
            let error = Repository::parse(bad).unwrap_err();
            assert!(error.contains("owner/name"), "{bad}: {error}");
        }
        assert_eq!(Repository::parse("").unwrap_err(), "must not be empty");
    }

    #[test]
    fn ids_are_url_safe() {
        for good in ["webhook-test-repo", "A.b_c-9", "v1.0"] {
            assert_eq!(HookId::parse(good).unwrap().as_str(), good);
        }
        for bad in ["a/b", "a b", "a?b", "a%20b", "é", ".", "..", "a#b"] {
            assert!(HookId::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(HookId::parse("").unwrap_err(), "must not be empty");
        assert!(HookId::parse(&"a".repeat(101)).is_err());
        assert!(HookId::parse(&"a".repeat(100)).is_ok());
    }
}

//! Named credentials. A [`Secret`] is resolved once when the configuration is loaded and
//! is never printed, logged, serialised or returned by the API: `Debug` and `Display`
//! show only its name.

use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::sync::Arc;

#[derive(Clone)]
pub struct Secret {
    name: Arc<str>,
    value: SecretString,
    absent: bool,
}

/// What an absent secret holds: 64 hex zeros, which is what the checks made at load
/// expect of a token, an HMAC key, a base64 or hex key and a header value alike.
const ABSENT_VALUE: &str = "0000000000000000000000000000000000000000000000000000000000000000";

impl Secret {
    pub fn new(name: impl Into<Arc<str>>, value: impl Into<String>) -> Self {
        Secret {
            name: name.into(),
            value: SecretString::from(value.into()),
            absent: false,
        }
    }

    /// A stand-in for a secret that could not be read (an unset `${env:…}`), for the
    /// commands that read the store and send nothing (`config::Needs::Store`): the
    /// actions that use it are built, and never run, in such a process.
    pub fn absent(name: impl Into<Arc<str>>) -> Self {
        Secret {
            absent: true,
            ..Secret::new(name, ABSENT_VALUE)
        }
    }

    /// Whether this is a stand-in (`Secret::absent`) rather than a value that was read.
    pub fn is_absent(&self) -> bool {
        self.absent
    }

    /// The name the configuration gives this secret (safe to show).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The secret value. Call only where it is used (a signature key, an auth header).
    pub fn expose(&self) -> &str {
        self.value.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({:?}, [redacted])", self.name)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[secret {}]", self.name)
    }
}

/// Compares a presented credential with an expected one in constant time. Hashing first
/// keeps the comparison independent of the expected length too.
pub fn credential_eq(given: &[u8], expected: &[u8]) -> bool {
    use sha2::Digest as _;
    use subtle::ConstantTimeEq as _;
    let given = sha2::Sha256::digest(given);
    let expected = sha2::Sha256::digest(expected);
    given.as_slice().ct_eq(expected.as_slice()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let secret = Secret::new("github", "It's a Secret to Everybody");
        assert_eq!(format!("{secret:?}"), r#"Secret("github", [redacted])"#);
        assert_eq!(secret.to_string(), "[secret github]");
        assert_eq!(secret.expose(), "It's a Secret to Everybody");
    }
}

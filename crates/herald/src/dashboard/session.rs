//! Dashboard sessions: the admin token exchanged for a random id in the `herald_session`
//! cookie, kept in this process's memory with an expiry. Sessions do not survive a restart
//! and are per replica (a load balancer needs sticky sessions, or people sign in again).
//! Each session has its own CSRF token, which every state-changing form carries.

use crate::secret::credential_eq;
use chrono::{DateTime, Duration, Utc};
use rand::TryRngCore as _;
use sha2::Digest as _;
use std::collections::HashMap;
use std::sync::Mutex;

/// The cookie holding the session id.
pub const COOKIE: &str = "herald_session";

/// How long a session lasts after signing in.
pub const LIFETIME: Duration = Duration::hours(12);

/// Sessions at most; signing in past it forgets the oldest.
const MAX_SESSIONS: usize = 10_000;

/// One signed-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    /// The token forms carry (`csrf` field or `X-CSRF-Token` header).
    pub csrf: String,
    pub expires_at: DateTime<Utc>,
}

impl Session {
    /// Whether `given` is this session's CSRF token, compared in constant time.
    pub fn csrf_matches(&self, given: Option<&str>) -> bool {
        given.is_some_and(|given| credential_eq(given.as_bytes(), self.csrf.as_bytes()))
    }
}

/// Sessions by the SHA-256 of their id: a lookup's timing tells nothing of the ids.
#[derive(Default)]
pub struct Sessions {
    by_id: Mutex<HashMap<[u8; 32], Session>>,
}

impl Sessions {
    /// A new session: its id (for the cookie) and the session.
    pub fn start(&self, now: DateTime<Utc>) -> (String, Session) {
        let id = random_token();
        let session = Session {
            csrf: random_token(),
            expires_at: now + LIFETIME,
        };
        let mut sessions = self
            .by_id
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        sessions.retain(|_, session| session.expires_at > now);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, session)| session.expires_at)
                .map(|(key, _)| *key)
        {
            sessions.remove(&oldest);
        }
        sessions.insert(key(&id), session.clone());
        (id, session)
    }

    /// The live session `id` names.
    pub fn get(&self, id: &str, now: DateTime<Utc>) -> Option<Session> {
        let mut sessions = self
            .by_id
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = key(id);
        match sessions.get(&key) {
            Some(session) if session.expires_at > now => Some(session.clone()),
            Some(_) => {
                sessions.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Sign out.
    pub fn end(&self, id: &str) {
        let mut sessions = self
            .by_id
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        sessions.remove(&key(id));
    }
}

fn key(id: &str) -> [u8; 32] {
    sha2::Sha256::digest(id.as_bytes()).into()
}

/// 32 random bytes from the OS, in hex.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .expect("the OS random source failed");
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-06T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn a_session_lives_until_it_expires_or_ends() {
        let sessions = Sessions::default();
        let (id, session) = sessions.start(now());
        assert_eq!(id.len(), 64);
        assert_ne!(id, session.csrf);
        assert!(sessions.get(&id, now()).is_some());
        assert!(sessions.get("someone-else", now()).is_none());
        assert!(sessions.get(&id, now() + LIFETIME).is_none(), "expired");
        let (id, _) = sessions.start(now());
        sessions.end(&id);
        assert!(sessions.get(&id, now()).is_none());
    }

    #[test]
    fn the_csrf_token_must_match() {
        let (_, session) = Sessions::default().start(now());
        assert!(session.csrf_matches(Some(&session.csrf.clone())));
        assert!(!session.csrf_matches(None));
        assert!(!session.csrf_matches(Some("")));
        assert!(!session.csrf_matches(Some(&session.csrf[1..])));
    }
}

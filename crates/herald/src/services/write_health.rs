//! Whether this process's writes to the store succeed, as its last write found: an
//! append, or the heartbeat every 2 s, so a store that fails (disk full, read-only file)
//! is seen within seconds and one that recovers is seen as soon as a write succeeds.
//! `/readyz` answers 503 while writes fail.

use herald_store::StoreError;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct WriteHealth {
    failure: Mutex<Option<String>>,
}

impl WriteHealth {
    /// Record the outcome of a write; the first failure of a streak and the recovery are
    /// logged once each.
    pub fn record(&self, outcome: Result<(), &StoreError>) {
        let mut failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        match (outcome, failure.is_some()) {
            (Ok(()), true) => {
                tracing::info!("Writes to the store succeed again");
                *failure = None;
            }
            (Ok(()), false) => {}
            (Err(error), was_failing) => {
                if !was_failing {
                    tracing::error!(error = %error, "Writes to the store fail; ingest answers 503 until they succeed");
                }
                *failure = Some(error.to_string());
            }
        }
    }

    /// Why the last write failed, if it did.
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_lasts_until_a_write_succeeds() {
        let health = WriteHealth::default();
        assert_eq!(health.failure(), None);
        health.record(Err(&StoreError::Corrupt("disk full".into())));
        assert_eq!(
            health.failure().as_deref(),
            Some("stored data is corrupt: disk full")
        );
        health.record(Ok(()));
        assert_eq!(health.failure(), None);
    }
}

//! Which trained dictionary each source's payloads are compressed against, and when to
//! train a source a new one (`crate::trained` says why); each backend keeps the
//! dictionaries in its `zstd_dictionaries` table and trains them from its newest payloads.

use crate::model::EventWithDeliveries;
use crate::trained::{RETRAIN_AFTER, TRAIN_AFTER, Trained};
use crate::{Result, StoreError};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub(crate) struct Dictionaries {
    sources: Mutex<HashMap<String, SourceDictionary>>,
}

#[derive(Default)]
struct SourceDictionary {
    /// The newest dictionary of the source.
    current: Option<Arc<Trained>>,
    /// Events of the source compressed since the store opened or its last training.
    since: u64,
    training: bool,
}

impl Dictionaries {
    /// The dictionaries a store keeps (`kept`, registered, oldest first): the newest of
    /// each source is the one its payloads are compressed against.
    pub(crate) fn of(kept: Vec<(String, Arc<Trained>)>) -> Dictionaries {
        let dictionaries = Dictionaries::default();
        for (source, trained) in kept {
            dictionaries.lock().entry(source).or_default().current = Some(trained);
        }
        dictionaries
    }

    /// The dictionary to compress a payload of `source` against, if it has one, counting
    /// the payload; and whether it is time to train the source a (newer) dictionary, which
    /// the caller then does and reports with `trained`.
    pub(crate) fn for_payload(&self, source: &str) -> (Option<Arc<Trained>>, bool) {
        let mut sources = self.lock();
        let entry = match sources.get_mut(source) {
            Some(entry) => entry,
            None => sources.entry(source.to_string()).or_default(),
        };
        entry.since += 1;
        let due = if entry.current.is_some() {
            RETRAIN_AFTER
        } else {
            TRAIN_AFTER
        };
        let train = !entry.training && entry.since >= due;
        entry.training |= train;
        (entry.current.clone(), train)
    }

    /// A training of `source` ended, with a dictionary or not (it is tried again after as
    /// many events as a retraining waits for).
    pub(crate) fn trained(&self, source: &str, dictionary: Option<Arc<Trained>>) {
        let mut sources = self.lock();
        let entry = sources.entry(source.to_string()).or_default();
        entry.training = false;
        entry.since = 0;
        if let Some(dictionary) = dictionary {
            entry.current = Some(dictionary);
        }
    }

    /// Compress `item`'s payload now, on the caller's task, against its source's newest
    /// dictionary once it has one; true when it is time to train the source a (newer) one,
    /// which the caller then does with `train_in_background`.
    pub(crate) fn compress_payload(&self, item: &EventWithDeliveries) -> bool {
        let (dictionary, train) = self.for_payload(&item.event.source);
        match dictionary {
            Some(dictionary) => item.event.payload.compressed_trained(&dictionary),
            None => item.event.payload.compressed(),
        };
        train
    }

    /// Train `source` a dictionary in the background with `training` (the backend's: read
    /// the newest payloads, train, keep), and report it with `trained`; appends go on
    /// meanwhile. Without a runtime the training is given up, to be tried again later.
    pub(crate) fn train_in_background<F>(self: &Arc<Self>, source: &str, training: F)
    where
        F: Future<Output = Result<Arc<Trained>>> + Send + 'static,
    {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.trained(source, None);
            return;
        };
        let (dictionaries, source) = (self.clone(), source.to_string());
        runtime.spawn(async move {
            let trained = match training.await {
                Ok(trained) => {
                    tracing::info!(%source, dictionary = trained.id, "trained a zstd dictionary for payloads");
                    Some(trained)
                }
                // The store closed meanwhile.
                Err(StoreError::Closed | StoreError::Database(sqlx::Error::PoolClosed)) => None,
                Err(err) => {
                    tracing::warn!(%source, %err, "could not train a zstd dictionary; payloads stay compressed without one");
                    None
                }
            };
            dictionaries.trained(&source, trained);
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SourceDictionary>> {
        self.sources.lock().unwrap_or_else(|err| err.into_inner())
    }
}

/// Register the dictionaries a store keeps, as rows of (source, content), oldest first.
pub(crate) fn register_rows(rows: Vec<(String, Vec<u8>)>) -> Result<Vec<(String, Arc<Trained>)>> {
    rows.into_iter()
        .map(|(source, content)| {
            let trained = Trained::new(content).map_err(|err| {
                StoreError::Corrupt(format!("bad row in zstd_dictionaries: {err}"))
            })?;
            Ok((source, crate::trained::register(trained)))
        })
        .collect()
}

/// Train a dictionary on `samples` (a source's newest payloads, as herald prints them) on a
/// blocking thread: a few hundred milliseconds of CPU.
pub(crate) async fn train_on(samples: Vec<String>) -> Result<Trained> {
    tokio::task::spawn_blocking(move || crate::trained::train(&samples))
        .await
        .map_err(|err| StoreError::Training(err.to_string()))?
        .map_err(|err| StoreError::Training(err.to_string()))
}

/// `Err(MissingDictionary)` if `frame` was made against a trained dictionary this process
/// has not registered (another process trained it): the caller registers the store's
/// dictionaries and reads again (`reading!`).
pub(crate) fn check_known(frame: &[u8]) -> Result<()> {
    match zstd::zstd_safe::get_dict_id_from_frame(frame) {
        Some(id) if crate::trained::lookup(id).is_none() => {
            Err(StoreError::MissingDictionary(id.get()))
        }
        _ => Ok(()),
    }
}

/// `$read` (a future of a `Result`), and once more after `$register` (a future registering
/// the store's dictionaries) if it met a payload compressed against a dictionary this
/// process has not loaded: another process (a replica, a `herald poll` beside the server)
/// trained it.
macro_rules! reading {
    ($register:expr, $read:expr) => {
        match $read.await {
            Err($crate::StoreError::MissingDictionary(id)) => {
                tracing::debug!(
                    dictionary = id,
                    "loading zstd dictionaries another process trained"
                );
                $register.await?;
                $read.await
            }
            outcome => outcome,
        }
    };
}

pub(crate) use reading;

//! zstd dictionaries trained on a source's own payloads (SQLite, migration 0017). Events of
//! one source repeat most of their text from one to the next (keys, the repository and
//! owner objects, URLs): alone a 4 KB GitHub push shrinks to about 1.2 KB, against a
//! dictionary trained on the source's earlier pushes to about 0.2 KB (docs/benchmarks.md).
//!
//! A frame made against a dictionary names it in its header (zstd's dictionary id, which
//! zstd derives from the dictionary's content), so a payload column holds either kind of
//! frame and `compress::decompress` finds the dictionary here. Every dictionary a store
//! has is registered when it opens and when one is trained; they are never deleted (16 KiB
//! each, at most one per source per `RETRAIN_AFTER` events).

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::num::NonZeroU32;
use std::sync::{Arc, LazyLock, RwLock};
use zstd::bulk::{Compressor, Decompressor};
use zstd::zstd_safe::CParameter;

/// The largest dictionary trained: 16 KiB compressed the benchmark's pushes as well as
/// 32 and 64 KiB did.
pub(crate) const DICTIONARY_BYTES: usize = 16 * 1024;
/// Shorter text is kept as it is, even with a dictionary.
const FROM_BYTES: usize = 256;
/// How many of a source's newest payloads a dictionary is trained on.
pub(crate) const SAMPLES: i64 = 1_000;
/// A source gets its first dictionary once this many of its events were stored since the
/// store opened.
pub(crate) const TRAIN_AFTER: u64 = 1_000;
/// And a newer one after this many more, so it follows what the source sends now.
pub(crate) const RETRAIN_AFTER: u64 = 100_000;

/// A trained dictionary, as zstd reads it, and its id.
#[derive(Debug)]
pub(crate) struct Trained {
    pub(crate) id: NonZeroU32,
    pub(crate) content: Vec<u8>,
}

impl Trained {
    /// A dictionary as `train` made it (or as the store kept it); an error if it is not one.
    pub(crate) fn new(content: Vec<u8>) -> io::Result<Trained> {
        let id = zstd::zstd_safe::get_dict_id_from_dict(&content)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not a zstd dictionary"))?;
        Ok(Trained { id, content })
    }
}

/// A dictionary trained on `samples`; an error when zstd cannot make one (too few or too
/// small samples).
pub(crate) fn train<S: AsRef<[u8]>>(samples: &[S]) -> io::Result<Trained> {
    Trained::new(zstd::dict::from_samples(samples, DICTIONARY_BYTES)?)
}

/// Every dictionary registered in this process, by id. Ids come from the content, so
/// dictionaries of two stores open in one process do not collide; a frame's checksum
/// catches the one-in-two-billion case that they would.
static REGISTERED: LazyLock<RwLock<HashMap<NonZeroU32, Arc<Trained>>>> =
    LazyLock::new(Default::default);

/// Make `trained` readable by `lookup`; the registered one when its id is known already.
pub(crate) fn register(trained: Trained) -> Arc<Trained> {
    let mut registered = REGISTERED.write().unwrap_or_else(|err| err.into_inner());
    registered
        .entry(trained.id)
        .or_insert_with(|| Arc::new(trained))
        .clone()
}

pub(crate) fn lookup(id: NonZeroU32) -> Option<Arc<Trained>> {
    let registered = REGISTERED.read().unwrap_or_else(|err| err.into_inner());
    registered.get(&id).cloned()
}

thread_local! {
    /// The last dictionary's contexts on this thread: loading a dictionary builds its
    /// tables, so a context stays with its dictionary while the next frame uses it too.
    static COMPRESSOR: RefCell<Option<(NonZeroU32, Compressor<'static>)>> =
        const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<(NonZeroU32, Decompressor<'static>)>> =
        const { RefCell::new(None) };
}

/// zstd's fastest level: payloads are compressed on the request's path.
const LEVEL: i32 = 1;

/// `text` as a frame against `dictionary`, with a checksum; None when it is shorter than
/// `FROM_BYTES`, or compressing fails or does not shrink it.
pub(crate) fn compress(text: &[u8], dictionary: &Trained) -> Option<Box<[u8]>> {
    if text.len() < FROM_BYTES {
        return None;
    }
    let frame = COMPRESSOR.with_borrow_mut(|slot| {
        if slot.as_ref().is_none_or(|(id, _)| *id != dictionary.id) {
            let mut compressor = Compressor::with_dictionary(LEVEL, &dictionary.content).ok()?;
            compressor
                .set_parameter(CParameter::ChecksumFlag(true))
                .ok()?;
            *slot = Some((dictionary.id, compressor));
        }
        slot.as_mut()?.1.compress(text).ok()
    })?;
    (frame.len() < text.len()).then(|| frame.into_boxed_slice())
}

/// The registered dictionary `id`, or an error that names it.
pub(crate) fn require(id: NonZeroU32) -> io::Result<Arc<Trained>> {
    lookup(id).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("the frame needs zstd dictionary {id}, which this store does not have"),
        )
    })
}

/// The text of a frame made against the registered dictionary `id`, `size` bytes long.
pub(crate) fn decompress(frame: &[u8], id: NonZeroU32, size: usize) -> io::Result<Vec<u8>> {
    let dictionary = require(id)?;
    DECOMPRESSOR.with_borrow_mut(|slot| {
        if slot.as_ref().is_none_or(|(known, _)| *known != id) {
            *slot = Some((id, Decompressor::with_dictionary(&dictionary.content)?));
        }
        let Some((_, decompressor)) = slot.as_mut() else {
            return Err(io::Error::other("no zstd decompression context"));
        };
        decompressor.decompress(frame, size)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Payloads of one source: the same shape and much of the same text, with a few values
    /// of their own.
    fn samples(count: usize) -> Vec<String> {
        (0..count)
            .map(|n| {
                format!(
                    "{{\"ref\":\"refs/heads/main\",\"after\":\"{:040x}\",\"repository\":\
                     {{\"full_name\":\"example/herald\",\"html_url\":\"https://github.com/\
                     example/herald\",\"description\":\"Signed webhooks in, durable rules \
                     out\",\"topics\":[\"webhooks\",\"rust\"]}},\"n\":{n},\"message\":\"{}\"}}",
                    (n as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834),
                    "fix the retry of a delivery ".repeat(20 + n % 7),
                )
            })
            .collect()
    }

    #[test]
    fn a_trained_dictionary_shrinks_its_sources_payloads_and_reads_them_back() {
        let samples = samples(600);
        let trained = register(train(&samples[..500]).expect("trains"));
        let text = samples[550].as_bytes();
        let alone = zstd::bulk::compress(text, 1).unwrap();
        let frame = compress(text, &trained).expect("compresses");
        assert!(
            frame.len() * 2 < alone.len(),
            "{} against {} alone",
            frame.len(),
            alone.len()
        );
        let id = zstd::zstd_safe::get_dict_id_from_frame(&frame).expect("names its dictionary");
        assert_eq!(id, trained.id);
        assert_eq!(decompress(&frame, id, text.len()).unwrap(), text);
        assert!(lookup(id).is_some());
        // Shorter text stays as it is, even with a dictionary.
        assert_eq!(compress(&text[..FROM_BYTES - 1], &trained), None);
    }

    #[test]
    fn a_frame_of_an_unknown_dictionary_is_an_error_that_says_so() {
        let trained = train(&samples(400)).expect("trains");
        let frame = compress(samples(401)[400].as_bytes(), &trained).unwrap();
        let id = trained.id;
        // Never registered: a frame of a store that had this dictionary, read elsewhere.
        assert!(lookup(id).is_none());
        let err = decompress(&frame, id, 100_000).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains(&id.to_string()), "{err}");
        assert!(Trained::new(b"not a dictionary".to_vec()).is_err());
        assert!(train(&["tiny"]).is_err(), "too few samples to train on");
    }
}

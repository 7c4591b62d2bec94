//! zstd frames for the large text SQLite keeps: event payloads (migration 0007) and the
//! request and response bodies of attempts (migration 0013), and an attempt's request
//! against its event's payload (migration 0015). SQLite has no TOAST, so a large value
//! takes its page and overflow pages as it is. PostgreSQL keeps payloads and requests as
//! these frames too (its migrations 0018, 0019): the database then neither parses them
//! into `jsonb` nor compresses them; its TOAST compresses response bodies.

use std::cell::RefCell;
use std::io::{self, Read};
use std::thread::LocalKey;
use zstd::bulk::{Compressor, Decompressor};
use zstd::zstd_safe::CParameter;

/// Shorter text fits in a page as it is; compressing it gains little.
pub(crate) const FROM_BYTES: usize = 1024;

/// How hard to compress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effort {
    /// zstd's fastest level (1), for payloads, compressed on the request's path: JSON
    /// shrinks 3–7× at it.
    Fast = 0,
    /// zstd's default level (3), for what the outbox logs (requests and responses of
    /// attempts), compressed off the ingest path: on a forwarded 4 KB push (4,680 bytes of
    /// request) 3% smaller than level 1 (1,242 against 1,284 bytes) for 1 µs more (10
    /// against 9), which there made three attempts fit a 4 KiB page instead of two
    /// (docs/benchmarks.md).
    Small = 1,
}

impl Effort {
    fn level(self) -> i32 {
        match self {
            Effort::Fast => 1,
            Effort::Small => 3,
        }
    }
}

/// Frames larger than this are decompressed as a stream, not into a buffer sized up front
/// from the size their header claims.
const BULK_LIMIT: usize = 64 << 20;

thread_local! {
    /// One compression context per effort and thread, and one decompression context per
    /// thread: making a context per call (as `zstd::bulk::compress` and
    /// `zstd::stream::decode_all` do) allocates and sets up its tables each time, which was
    /// 7% of herald's samples under ingest.
    static COMPRESSORS: RefCell<[Option<Compressor<'static>>; 2]> =
        const { RefCell::new([None, None]) };
    static DECOMPRESSOR: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
    /// The contexts of frames made against a dictionary, kept apart so the plain ones never
    /// have to forget a dictionary (zstd keeps a loaded one for every frame after).
    static AGAINST_COMPRESSOR: RefCell<Option<Compressor<'static>>> = const { RefCell::new(None) };
    static AGAINST_DECOMPRESSOR: RefCell<Option<Decompressor<'static>>> =
        const { RefCell::new(None) };
}

/// `text` as a zstd frame; None when it is too short to gain, does not shrink, or
/// compressing fails (the text is then kept as it is).
pub(crate) fn compress(text: &[u8], effort: Effort) -> Option<Box<[u8]>> {
    if text.len() < FROM_BYTES {
        return None;
    }
    let frame = COMPRESSORS.with_borrow_mut(|compressors| {
        let slot = &mut compressors[effort as usize];
        if slot.is_none() {
            *slot = Some(Compressor::new(effort.level()).ok()?);
        }
        slot.as_mut()?.compress(text).ok()
    })?;
    (frame.len() < text.len()).then(|| frame.into_boxed_slice())
}

/// The text of a frame made by `compress`. Such a frame records its size, so it is
/// decompressed in one call into a buffer of that size; another (no size, or a huge one)
/// as a stream.
pub(crate) fn decompress(frame: &[u8]) -> io::Result<String> {
    decode(frame, &DECOMPRESSOR, None)
}

/// `frame`'s text, decompressed with this thread's context in `context` (against
/// `dictionary` when given), or as a stream when its size is unknown or huge.
fn decode(
    frame: &[u8],
    context: &'static LocalKey<RefCell<Option<Decompressor<'static>>>>,
    dictionary: Option<&[u8]>,
) -> io::Result<String> {
    // A frame made against a trained dictionary names it; raw content ones have no id.
    let trained = zstd::zstd_safe::get_dict_id_from_frame(frame).filter(|_| dictionary.is_none());
    let text = match (Decompressor::upper_bound(frame), trained) {
        (Some(size), Some(id)) if size <= BULK_LIMIT => {
            crate::trained::decompress(frame, id, size)?
        }
        (_, Some(id)) => stream(frame, &crate::trained::require(id)?.content)?,
        (Some(size), None) if size <= BULK_LIMIT => context.with_borrow_mut(|slot| {
            if slot.is_none() {
                *slot = Some(Decompressor::new()?);
            }
            let Some(decompressor) = slot.as_mut() else {
                return Err(io::Error::other("no zstd decompression context"));
            };
            if let Some(dictionary) = dictionary {
                decompressor.set_dictionary(dictionary)?;
            }
            decompressor.decompress(frame, size)
        })?,
        (_, None) => stream(frame, dictionary.unwrap_or_default())?,
    };
    String::from_utf8(text).map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))
}

/// A frame decompressed as a stream, against `dictionary` (empty for none).
fn stream(frame: &[u8], dictionary: &[u8]) -> io::Result<Vec<u8>> {
    let mut text = Vec::new();
    zstd::stream::read::Decoder::with_dictionary(frame, dictionary)?.read_to_end(&mut text)?;
    Ok(text)
}

/// `text` as a zstd frame made with `dictionary` as raw content: zstd may refer to the
/// dictionary as if it came just before the text, so what the text repeats of it costs a
/// few bytes. None as `compress` says. The frame carries a checksum of the text, so a
/// frame read against another dictionary fails rather than reading as other text.
///
/// zstd reads a dictionary that starts with its dictionary magic number as a trained one;
/// no UTF-8 text does (its second byte would be 0xA4 after an ASCII digit).
pub(crate) fn compress_against(
    text: &[u8],
    dictionary: &[u8],
    effort: Effort,
) -> Option<Box<[u8]>> {
    if text.len() < FROM_BYTES {
        return None;
    }
    let frame = AGAINST_COMPRESSOR.with_borrow_mut(|slot| {
        if slot.is_none() {
            let mut compressor = Compressor::new(effort.level()).ok()?;
            compressor
                .set_parameter(CParameter::ChecksumFlag(true))
                .ok()?;
            *slot = Some(compressor);
        }
        let compressor = slot.as_mut()?;
        compressor.set_dictionary(effort.level(), dictionary).ok()?;
        compressor.compress(text).ok()
    })?;
    (frame.len() < text.len()).then(|| frame.into_boxed_slice())
}

/// The text of a frame made by `compress_against` with the same `dictionary`.
pub(crate) fn decompress_against(frame: &[u8], dictionary: &[u8]) -> io::Result<String> {
    decode(frame, &AGAINST_DECOMPRESSOR, Some(dictionary))
}

/// The dictionary an attempt's request is compressed against, from its event's payload
/// text: the payload as a JSON string, as the request holds a body it sent (the `http`
/// action's default body is the payload).
pub(crate) fn payload_dictionary(payload: &str) -> Vec<u8> {
    serde_json::to_vec(payload).unwrap_or_default()
}

/// `text` for a pair of columns, one for text and one for a frame: (the text, None), or
/// (None, the frame) when compressing gains.
pub(crate) fn split(text: &str, effort: Effort) -> (Option<&str>, Option<Box<[u8]>>) {
    match compress(text.as_bytes(), effort) {
        Some(frame) => (None, Some(frame)),
        None => (Some(text), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_round_trips_and_short_text_stays() {
        let long = "a delivery to a destination that answers 429 ".repeat(40);
        for effort in [Effort::Fast, Effort::Small] {
            let frame = compress(long.as_bytes(), effort).expect("compresses");
            assert!(frame.len() * 4 < long.len());
            assert_eq!(decompress(&frame).unwrap(), long);
            assert_eq!(compress(b"short", effort), None);
            assert_eq!(split("short", effort), (Some("short"), None));
            assert!(matches!(split(&long, effort), (None, Some(_))));
        }
    }

    /// The contexts kept per thread make the frames a context made per call makes, at
    /// either effort in any order, and read frames made elsewhere: with their size (what
    /// herald stored before) or without it (a stream).
    #[test]
    fn kept_contexts_make_and_read_the_same_frames() {
        let texts: Vec<String> = (0..6)
            .map(|n| {
                format!(
                    "{{\"n\":{n},\"commits\":\"{}\"}}",
                    "fix the retry ".repeat(100 + n)
                )
            })
            .collect();
        for (n, text) in texts.iter().enumerate() {
            let effort = if n % 2 == 0 {
                Effort::Fast
            } else {
                Effort::Small
            };
            let frame = compress(text.as_bytes(), effort).unwrap();
            let one_shot = zstd::bulk::compress(text.as_bytes(), effort.level()).unwrap();
            assert_eq!(*frame, *one_shot);
            assert_eq!(decompress(&one_shot).unwrap(), *text);
            let stream = zstd::stream::encode_all(text.as_bytes(), 1).unwrap();
            assert_eq!(decompress(&stream).unwrap(), *text);
        }
    }

    /// A request that forwards a payload, against that payload: a few bytes beyond what
    /// differs, and only that payload reads it back.
    #[test]
    fn a_frame_against_a_dictionary_needs_that_dictionary() {
        let payload = format!("{{\"commits\":\"{}\"}}", "a9f3 fix é ".repeat(300));
        let request = serde_json::json!({ "url": "https://x", "body": payload }).to_string();
        let dictionary = payload_dictionary(&payload);
        let frame = compress_against(request.as_bytes(), &dictionary, Effort::Small).unwrap();
        assert!(frame.len() < 100, "{}", frame.len());
        assert_eq!(decompress_against(&frame, &dictionary).unwrap(), request);
        let other = payload_dictionary(&payload.replace("fix", "fax"));
        assert!(decompress_against(&frame, &other).is_err());
        assert!(decompress_against(&frame, b"").is_err());
        // Short text is not compressed, against a dictionary or not.
        assert_eq!(compress_against(b"short", &dictionary, Effort::Small), None);
    }

    /// A frame that does not record its size (a streaming encoder's) is read as a stream,
    /// with or without a dictionary.
    #[test]
    fn a_frame_without_its_size_is_read_as_a_stream() {
        use std::io::Write;
        let text = "a9f3 fix é ".repeat(300);
        let streamed = |dictionary: &[u8]| {
            let mut encoder =
                zstd::stream::write::Encoder::with_dictionary(Vec::new(), 3, dictionary).unwrap();
            encoder.write_all(text.as_bytes()).unwrap();
            encoder.finish().unwrap()
        };
        let frame = streamed(b"");
        assert_eq!(Decompressor::upper_bound(&frame), None, "no size recorded");
        assert_eq!(decompress(&frame).unwrap(), text);

        let dictionary = payload_dictionary(&text);
        let frame = streamed(&dictionary);
        assert_eq!(Decompressor::upper_bound(&frame), None, "no size recorded");
        assert_eq!(decompress_against(&frame, &dictionary).unwrap(), text);
    }

    #[test]
    fn a_damaged_frame_is_an_error() {
        assert!(decompress(b"not zstd").is_err());
        let frame = compress("é".repeat(1000).as_bytes(), Effort::Fast).unwrap();
        assert!(decompress(&frame[..frame.len() - 3]).is_err());
    }
}

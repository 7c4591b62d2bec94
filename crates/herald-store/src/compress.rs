//! zstd frames for the large text SQLite keeps: event payloads (migration 0007) and the
//! request and response bodies of attempts (migration 0013). SQLite has no TOAST, so a
//! large value takes its page and overflow pages as it is; PostgreSQL compresses such
//! values itself.

use std::io;

/// Shorter text fits in a page as it is; compressing it gains little.
pub(crate) const FROM_BYTES: usize = 1024;

/// How hard to compress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effort {
    /// zstd's fastest level (1), for payloads, compressed on the request's path: JSON
    /// shrinks 3–7× at it.
    Fast,
    /// zstd's default level (3), for what the outbox logs (requests and responses of
    /// attempts), compressed off the ingest path: about 7% smaller than level 1 on a
    /// forwarded 4 KB push, which there made three attempts fit a 4 KiB page instead of
    /// two (docs/benchmarks.md).
    Small,
}

impl Effort {
    fn level(self) -> i32 {
        match self {
            Effort::Fast => 1,
            Effort::Small => 3,
        }
    }
}

/// `text` as a zstd frame; None when it is too short to gain, does not shrink, or
/// compressing fails (the text is then kept as it is).
pub(crate) fn compress(text: &[u8], effort: Effort) -> Option<Box<[u8]>> {
    if text.len() < FROM_BYTES {
        return None;
    }
    zstd::bulk::compress(text, effort.level())
        .ok()
        .filter(|frame| frame.len() < text.len())
        .map(Vec::into_boxed_slice)
}

/// The text of a frame made by `compress`.
pub(crate) fn decompress(frame: &[u8]) -> io::Result<String> {
    let text = zstd::stream::decode_all(frame)?;
    String::from_utf8(text).map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))
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

    #[test]
    fn a_damaged_frame_is_an_error() {
        assert!(decompress(b"not zstd").is_err());
        let frame = compress("é".repeat(1000).as_bytes(), Effort::Fast).unwrap();
        assert!(decompress(&frame[..frame.len() - 3]).is_err());
    }
}

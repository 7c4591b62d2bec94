//! Trace and span ids derived from herald's own ids, so that any process can continue an
//! event's trace from what the store already holds, without storing anything more: an
//! event's id (a 128-bit UUID v7) *is* its trace id; the span of its ingest and the span
//! of each delivery's rule have ids derived from the event's and the delivery's ids. A
//! worker in another process, or after a restart, names its attempt's parent from the
//! delivery row alone.
//!
//! Derived with SHA-256 (not a std hasher, whose output may change between Rust
//! releases): two herald versions during a rolling upgrade derive the same ids.

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The trace of `event`: its 16 bytes. None for the nil UUID, which is no valid trace id.
pub fn trace_of(event: Uuid) -> Option<[u8; 16]> {
    (!event.is_nil()).then(|| *event.as_bytes())
}

/// The span `id` stands for in its trace: for an event, the root span of its ingest (or
/// poll); for a delivery, the span of the rule (or window) that made it, which each
/// attempt is a child of. Never all zeros, which is no valid span id.
pub fn span_of(id: Uuid) -> [u8; 8] {
    let digest = Sha256::new()
        .chain_update(b"herald span\0")
        .chain_update(id.as_bytes())
        .finalize();
    let mut span = [0u8; 8];
    span.copy_from_slice(&digest[..8]);
    if span == [0; 8] {
        span[7] = 1;
    }
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_id_is_its_trace_id_and_spans_are_stable() {
        let event = Uuid::parse_str("019a8f3c-6d2e-7c41-9b3a-5e8f2d1c0a47").unwrap();
        assert_eq!(trace_of(event), Some(*event.as_bytes()));
        assert_eq!(trace_of(Uuid::nil()), None);
        assert_eq!(
            span_of(event),
            span_of(Uuid::parse_str(&event.to_string()).unwrap())
        );
        // The same in every process and every version: a fixed value.
        assert_eq!(hex::encode(span_of(Uuid::nil())), "4583a06a4939f910");
    }

    #[test]
    fn ids_made_together_get_distinct_spans() {
        let ids: Vec<Uuid> = (0..1000).map(|_| Uuid::now_v7()).collect();
        let spans: std::collections::BTreeSet<[u8; 8]> =
            ids.iter().map(|id| span_of(*id)).collect();
        assert_eq!(spans.len(), ids.len());
        assert!(spans.iter().all(|span| *span != [0; 8]));
    }
}

//! What both backends share about pollers: the columns of a `pollers` row.

/// The columns of a poller's state, as a literal so `concat!` keeps the SQL static.
macro_rules! poller_columns {
    () => {
        "source, cursor, start_at, last_poll_at, last_success_at, last_error, last_error_at, \
         last_error_kind, failures, last_items, newest_item_at, next_poll_at, lease_owner, \
         lease_until, updated_at"
    };
}

pub(crate) use poller_columns;

/// A stored failure kind, or corruption.
pub(crate) fn failure_kind(
    text: Option<&str>,
) -> crate::Result<Option<crate::model::PollFailureKind>> {
    text.map(|text| {
        crate::model::PollFailureKind::parse(text).ok_or_else(|| {
            crate::StoreError::Corrupt(format!("unknown poll failure kind {text:?}"))
        })
    })
    .transpose()
}

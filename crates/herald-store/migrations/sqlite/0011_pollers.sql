-- Pollers: sources herald pulls from an API (`kind = "poller"`). One row per source: where
-- it is in the API's stream, how its polls went, and which process polls it now.
--
-- `cursor` moves only in the transaction that stores the page it ends, and only from the
-- cursor that page was fetched after (compare-and-set), so a crash neither skips nor
-- loses an item. `lease_owner`/`lease_until` let one process poll at a time across
-- replicas; a dead process's lease is released by the heartbeat, like its deliveries'.
CREATE TABLE pollers (
    source          TEXT    PRIMARY KEY,
    -- What the next page is fetched after; NULL until the first item is stored.
    cursor          TEXT,
    -- Where a poller without a cursor starts when `start = "now"`: its first poll.
    start_at        INTEGER,
    last_poll_at    INTEGER,
    -- The last poll that read every page to the end.
    last_success_at INTEGER,
    last_error      TEXT,
    last_error_at   INTEGER,
    -- credential, rate_limited, transient or permanent.
    last_error_kind TEXT,
    -- Failed polls since the last success (the backoff grows with it).
    failures        INTEGER NOT NULL DEFAULT 0,
    -- Items the last poll read (stored now or already stored).
    last_items      INTEGER NOT NULL DEFAULT 0,
    -- The time (the item's own) of the newest item stored.
    newest_item_at  INTEGER,
    next_poll_at    INTEGER,
    lease_owner     TEXT,
    lease_until     INTEGER,
    updated_at      INTEGER NOT NULL
) STRICT;

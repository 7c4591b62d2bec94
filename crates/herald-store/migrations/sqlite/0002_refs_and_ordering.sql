-- Refs (what external systems returned, e.g. a Slack message's ts) and in-order delivery
-- per ordering key, with the progress of multi-request actions.

CREATE TABLE refs (
    kind       TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    data       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (kind, key)
) STRICT;

-- For pruning refs nobody has written for a while.
CREATE INDEX refs_updated_at_idx ON refs (updated_at);

ALTER TABLE deliveries ADD COLUMN ordering_key TEXT;
-- Requests of a multi-request action already done; a retry resumes after them.
ALTER TABLE deliveries ADD COLUMN progress INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN failure_kind TEXT CHECK (failure_kind IN ('credential'));

-- A keyed delivery may be claimed only at the head of its key: these two partial indexes
-- answer "is an earlier one pending?" and "is another one leased?" without touching the
-- rows of unkeyed or finished deliveries.
CREATE INDEX deliveries_ordering_idx ON deliveries (ordering_key, created_at, id)
    WHERE status = 'pending' AND ordering_key IS NOT NULL;
CREATE INDEX deliveries_ordering_lease_idx ON deliveries (ordering_key, lease_until)
    WHERE status = 'pending' AND lease_until IS NOT NULL AND ordering_key IS NOT NULL;

-- Aggregation windows: the events of a rule gathered per group key until the window is
-- due, then flushed into deliveries in one transaction.

CREATE TABLE windows (
    id            TEXT    NOT NULL PRIMARY KEY,
    rule          TEXT    NOT NULL,
    group_key     TEXT    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN ('open', 'flushed')),
    opened_at     INTEGER NOT NULL,
    last_event_at INTEGER NOT NULL,
    due_at        INTEGER NOT NULL,
    count         INTEGER NOT NULL,
    flushed_at    INTEGER,
    lease_until   INTEGER,
    lease_token   TEXT,
    -- The count when last claimed: a flusher renders that many events, and a flush moves
    -- any appended since to a new window.
    claimed_count INTEGER,
    -- Flushed on demand: due now, whatever its timing or calendar.
    forced        INTEGER NOT NULL DEFAULT 0 CHECK (forced IN (0, 1)),
    -- Set by a deferral (a calendar): appends never make the window due before it.
    not_before    INTEGER,
    -- The timing of the last append, to place a window split off by a flush.
    quiet_ms      INTEGER,
    bucket_ms     INTEGER,
    max_wait_ms   INTEGER NOT NULL,
    max_count     INTEGER
) STRICT;

-- At most one open window per rule and group.
CREATE UNIQUE INDEX windows_open_key_idx ON windows (rule, group_key) WHERE status = 'open';
-- Claims walk the open windows in (due_at, id) order.
CREATE INDEX windows_open_due_idx ON windows (due_at, id) WHERE status = 'open';
CREATE INDEX windows_opened_at_idx ON windows (opened_at, id);
CREATE INDEX windows_flushed_at_idx ON windows (flushed_at) WHERE status = 'flushed';

CREATE TABLE window_events (
    window_id TEXT    NOT NULL REFERENCES windows (id) ON DELETE CASCADE,
    event_id  TEXT    NOT NULL REFERENCES events (id),
    position  INTEGER NOT NULL,
    PRIMARY KEY (window_id, position)
) STRICT;

-- Pruning keeps events a window holds.
CREATE INDEX window_events_event_id_idx ON window_events (event_id);

-- A delivery made by a flush names its window.
ALTER TABLE deliveries ADD COLUMN window_id TEXT REFERENCES windows (id);
CREATE INDEX deliveries_window_id_idx ON deliveries (window_id) WHERE window_id IS NOT NULL;

-- Aggregation windows: the events of a rule gathered per group key until the window is
-- due, then flushed into deliveries in one transaction.

CREATE TABLE windows (
    id            uuid        NOT NULL PRIMARY KEY,
    rule          text        NOT NULL,
    group_key     text        NOT NULL,
    status        text        NOT NULL CHECK (status IN ('open', 'flushed')),
    opened_at     timestamptz NOT NULL,
    last_event_at timestamptz NOT NULL,
    due_at        timestamptz NOT NULL,
    count         bigint      NOT NULL,
    flushed_at    timestamptz,
    lease_until   timestamptz,
    lease_token   uuid,
    -- The count when last claimed: a flusher renders that many events, and a flush moves
    -- any appended since to a new window.
    claimed_count bigint,
    -- Flushed on demand: due now, whatever its timing or calendar.
    forced        boolean     NOT NULL DEFAULT false,
    -- Set by a deferral (a calendar): appends never make the window due before it.
    not_before    timestamptz,
    -- The timing of the last append, to place a window split off by a flush.
    quiet_ms      bigint,
    bucket_ms     bigint,
    max_wait_ms   bigint      NOT NULL,
    max_count     bigint
);

-- At most one open window per rule and group.
CREATE UNIQUE INDEX windows_open_key_idx ON windows (rule, group_key) WHERE status = 'open';
-- Claims walk the open windows in (due_at, id) order.
CREATE INDEX windows_open_due_idx ON windows (due_at, id) WHERE status = 'open';
CREATE INDEX windows_opened_at_idx ON windows (opened_at, id);
CREATE INDEX windows_flushed_at_idx ON windows (flushed_at) WHERE status = 'flushed';

CREATE TABLE window_events (
    window_id uuid   NOT NULL REFERENCES windows (id) ON DELETE CASCADE,
    event_id  uuid   NOT NULL REFERENCES events (id),
    position  bigint NOT NULL,
    PRIMARY KEY (window_id, position)
);

-- Pruning keeps events a window holds.
CREATE INDEX window_events_event_id_idx ON window_events (event_id);

-- A delivery made by a flush names its window.
ALTER TABLE deliveries ADD COLUMN window_id uuid REFERENCES windows (id);
CREATE INDEX deliveries_window_id_idx ON deliveries (window_id) WHERE window_id IS NOT NULL;

-- herald's schema on SQLite. Times are unix milliseconds, ids hyphenated UUID text,
-- JSON is text.

CREATE TABLE events (
    id          TEXT    NOT NULL PRIMARY KEY,
    source      TEXT    NOT NULL,
    event_type  TEXT    NOT NULL,
    dedup_key   TEXT,
    received_at INTEGER NOT NULL,
    headers     TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    -- NULL keys are distinct, so events without a key never conflict.
    UNIQUE (source, dedup_key)
) STRICT;

CREATE INDEX events_received_at_idx ON events (received_at);
CREATE INDEX events_source_type_idx ON events (source, event_type);

CREATE TABLE deliveries (
    id               TEXT    NOT NULL PRIMARY KEY,
    event_id         TEXT    REFERENCES events (id),
    rule             TEXT    NOT NULL,
    action           TEXT    NOT NULL,
    idempotency_key  TEXT    NOT NULL UNIQUE,
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'succeeded', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    retries_used     INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_token      TEXT,
    lease_until      INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    last_status_code INTEGER,
    last_error       TEXT
) STRICT;

-- The id column lets claims walk the index in (next_attempt_at, id) order without sorting.
CREATE INDEX deliveries_status_next_attempt_idx ON deliveries (status, next_attempt_at, id);
CREATE INDEX deliveries_event_id_idx ON deliveries (event_id);
CREATE INDEX deliveries_rule_created_idx ON deliveries (rule, created_at);
-- Only leased rows have a token, so this index stays small.
CREATE INDEX deliveries_lease_token_idx ON deliveries (lease_token) WHERE lease_token IS NOT NULL;

CREATE TABLE attempts (
    delivery_id   TEXT    NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    number        INTEGER NOT NULL,
    started_at    INTEGER NOT NULL,
    duration_ms   INTEGER NOT NULL,
    outcome       TEXT    NOT NULL CHECK (outcome IN ('success', 'retry', 'failed')),
    status_code   INTEGER,
    error         TEXT,
    request       TEXT,
    response_body TEXT,
    PRIMARY KEY (delivery_id, number)
) STRICT;

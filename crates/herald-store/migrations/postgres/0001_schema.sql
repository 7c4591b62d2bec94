-- herald's schema on PostgreSQL.

CREATE TABLE events (
    id          uuid        NOT NULL PRIMARY KEY,
    source      text        NOT NULL,
    event_type  text        NOT NULL,
    dedup_key   text,
    received_at timestamptz NOT NULL,
    headers     jsonb       NOT NULL,
    payload     jsonb       NOT NULL,
    -- NULL keys are distinct, so events without a key never conflict.
    CONSTRAINT events_source_dedup_key_key UNIQUE (source, dedup_key)
);

CREATE INDEX events_received_at_idx ON events (received_at);
CREATE INDEX events_source_type_idx ON events (source, event_type);

CREATE TABLE deliveries (
    id               uuid        NOT NULL PRIMARY KEY,
    event_id         uuid        REFERENCES events (id),
    rule             text        NOT NULL,
    action           text        NOT NULL,
    idempotency_key  text        NOT NULL UNIQUE,
    status           text        NOT NULL CHECK (status IN ('pending', 'succeeded', 'dead')),
    attempts         integer     NOT NULL DEFAULT 0,
    retries_used     integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    lease_owner      text,
    lease_token      uuid,
    lease_until      timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    last_status_code integer,
    last_error       text
);

-- The id column lets claims walk the index in (next_attempt_at, id) order without sorting.
CREATE INDEX deliveries_status_next_attempt_idx ON deliveries (status, next_attempt_at, id);
CREATE INDEX deliveries_event_id_idx ON deliveries (event_id);
CREATE INDEX deliveries_rule_created_idx ON deliveries (rule, created_at);
-- Only leased rows have a token, so this index stays small.
CREATE INDEX deliveries_lease_token_idx ON deliveries (lease_token) WHERE lease_token IS NOT NULL;

CREATE TABLE attempts (
    delivery_id   uuid        NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    number        integer     NOT NULL,
    started_at    timestamptz NOT NULL,
    duration_ms   bigint      NOT NULL,
    outcome       text        NOT NULL CHECK (outcome IN ('success', 'retry', 'failed')),
    status_code   integer,
    error         text,
    request       jsonb,
    response_body text,
    PRIMARY KEY (delivery_id, number)
);

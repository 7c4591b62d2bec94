-- Queries that stay fast at millions of events (issue 16).
--
-- `events list --source S --type T` pages newest first by id: an index on (source,
-- event_type, id) hands it the matches in that order, where (source, event_type) made it
-- sort every match first.
DROP INDEX events_source_type_idx;
CREATE INDEX events_source_type_id_idx ON events (source, event_type, id);

-- Health per source read every event to count them and find the newest. The newest is now
-- one seek per source in this index (which also serves a source's events since a time, as
-- the monitors' staleness scans read them); the counts are kept as events are written.
CREATE INDEX events_source_received_idx ON events (source, received_at);

-- Events per source, kept by the triggers below on every insert and delete of an event
-- (appends, polled pages, pruning; events are never updated), so they cannot drift from
-- the table. A source's count is the sum over its rows. Each statement adds to one row per
-- source it touched, in the slot of its transaction's id: concurrent transactions (other
-- replicas, a prune) rarely share a row, so they seldom wait for each other's commit. A
-- statement takes its rows in source order, and herald inserts (or deletes) a
-- transaction's events in one statement, so two transactions never deadlock over them.
CREATE TABLE event_counts (
    source text    NOT NULL,
    slot   integer NOT NULL,
    events bigint  NOT NULL,
    PRIMARY KEY (source, slot)
);

CREATE FUNCTION herald_count_inserted_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_counts (source, slot, events)
    SELECT source, (txid_current() % 16)::integer, COUNT(*)
    FROM inserted_events GROUP BY source ORDER BY source
    ON CONFLICT (source, slot) DO UPDATE SET events = event_counts.events + excluded.events;
    RETURN NULL;
END
$$;

CREATE FUNCTION herald_count_deleted_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_counts (source, slot, events)
    SELECT source, (txid_current() % 16)::integer, -COUNT(*)
    FROM deleted_events GROUP BY source ORDER BY source
    ON CONFLICT (source, slot) DO UPDATE SET events = event_counts.events + excluded.events;
    RETURN NULL;
END
$$;

-- Writes wait until the counts below are taken, so none is counted twice or missed.
LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE;

CREATE TRIGGER events_count_insert AFTER INSERT ON events
    REFERENCING NEW TABLE AS inserted_events
    FOR EACH STATEMENT EXECUTE FUNCTION herald_count_inserted_events();

CREATE TRIGGER events_count_delete AFTER DELETE ON events
    REFERENCING OLD TABLE AS deleted_events
    FOR EACH STATEMENT EXECUTE FUNCTION herald_count_deleted_events();

INSERT INTO event_counts (source, slot, events)
SELECT source, 0, COUNT(*) FROM events GROUP BY source;

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
-- the table. A source's count
-- is the sum over its rows: SQLite has one writer and keeps one row per source (slot 0);
-- PostgreSQL spreads concurrent transactions over slots so they do not wait on one row.
CREATE TABLE event_counts (
    source TEXT    NOT NULL,
    slot   INTEGER NOT NULL,
    events INTEGER NOT NULL,
    PRIMARY KEY (source, slot)
) STRICT, WITHOUT ROWID;

INSERT INTO event_counts (source, slot, events)
SELECT source, 0, COUNT(*) FROM events GROUP BY source;

CREATE TRIGGER events_count_insert AFTER INSERT ON events
BEGIN
    INSERT INTO event_counts (source, slot, events) VALUES (NEW.source, 0, 1)
    ON CONFLICT (source, slot) DO UPDATE SET events = events + 1;
END;

CREATE TRIGGER events_count_delete AFTER DELETE ON events
BEGIN
    UPDATE event_counts SET events = events - 1 WHERE source = OLD.source AND slot = 0;
END;

-- The dashboard's lists at millions of events and deliveries (issue 17): each page reads
-- its rows from an index in the order it shows them, rather than sorting every match.
--
-- Events of one source, newest first by id (`/ui/events?source=S`, `herald events list
-- --source S`): (source, event_type, id) serves a source and type, not a source alone.
CREATE INDEX events_source_id_idx ON events (source, id);

-- Not an index on (status, id) for a status's deliveries: on SQLite the writes' lookups
-- by (status, id) took it, and filling a store ran 4 times slower (8,000 → 1,900 events/s).
-- SQLite lists succeeded deliveries, most of the table, in id order instead (read.rs).

-- Deliveries of one rule, newest first by id (`/ui/deliveries?rule=R`): a rule's
-- deliveries are sorted from (rule, created_at) otherwise. A rule never changes, so the
-- writes only add to it.
CREATE INDEX deliveries_rule_id_idx ON deliveries (rule, id);

-- Deliveries made since a time: the overview's chart of the last hour, and the lists'
-- time filters.
CREATE INDEX deliveries_created_idx ON deliveries (created_at);

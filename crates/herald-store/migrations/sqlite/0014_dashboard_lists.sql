-- The dashboard's lists at millions of events and deliveries (issue 17): each page reads
-- its rows from an index in the order it shows them, rather than sorting every match.
--
-- Events of one source, newest first by id (`/ui/events?source=S`, `herald events list
-- --source S`): (source, event_type, id) serves a source and type, not a source alone.
CREATE INDEX events_source_id_idx ON events (source, id);

-- Deliveries of one status, newest first by id (`/ui/deliveries?status=dead`): the
-- (status, next_attempt_at, id) index of the claims hands them over by due time.
CREATE INDEX deliveries_status_id_idx ON deliveries (status, id);

-- Deliveries made since a time: the overview's chart of the last hour, and the lists'
-- time filters.
CREATE INDEX deliveries_created_idx ON deliveries (created_at);

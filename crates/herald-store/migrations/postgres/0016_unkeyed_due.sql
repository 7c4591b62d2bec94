-- Claims take due deliveries without an ordering key from this index, and the head of each
-- key from deliveries_ordering_idx: a backlog of one key (a `sql` action's) is then not
-- walked row by row on every claim. Only pending unkeyed rows are in it.
CREATE INDEX deliveries_unkeyed_due_idx ON deliveries (next_attempt_at, id)
    WHERE status = 'pending' AND ordering_key IS NULL;

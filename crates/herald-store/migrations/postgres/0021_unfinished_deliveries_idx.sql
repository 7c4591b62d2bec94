-- The status index keeps unfinished deliveries only (pending and dead): what its queries
-- look for (queue depth, health, listing by status). A completed delivery then costs no
-- entry in it, and the index stays the size of the queue rather than of the history.
DROP INDEX deliveries_status_next_attempt_idx;
CREATE INDEX deliveries_unfinished_idx ON deliveries (status, next_attempt_at, id)
    WHERE status <> 'succeeded';

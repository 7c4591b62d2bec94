-- What monitors remember between runs, per subject (e.g. that an action's failure was
-- already alerted on).
--
-- No index for the health queries: they read every attempt once, ordered per action by a
-- window, and find each attempt's delivery by its primary key, so an index on
-- attempts (started_at) or deliveries (action) would save no pass over the data and would
-- cost every append and completion an index write.

CREATE TABLE monitor_states (
    monitor    TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    data       TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (monitor, subject)
) STRICT;

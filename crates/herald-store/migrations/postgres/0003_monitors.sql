-- What monitors remember between runs, per subject (e.g. that an action's failure was
-- already alerted on).
--
-- No index for the health queries: they read every attempt once, ordered per action by a
-- window, and find each attempt's delivery by its primary key, so an index on
-- attempts (started_at) or deliveries (action) would save no pass over the data and would
-- cost every append and completion an index write.

CREATE TABLE monitor_states (
    -- Byte order, as on SQLite, whatever the database's collation: states are listed by
    -- subject straight from the primary key.
    monitor    text        COLLATE "C" NOT NULL,
    subject    text        COLLATE "C" NOT NULL,
    data       jsonb       NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (monitor, subject)
);

-- As SQLite's migration 0017: zstd dictionaries trained on a source's own payloads
-- (herald-store's trained.rs); a payload frame made against one names it by id in its
-- header. Never deleted: a frame needs its dictionary for as long as the event is kept.
CREATE TABLE zstd_dictionaries (
    -- zstd's dictionary id (an unsigned 32-bit number), which zstd derives from the content.
    id              bigint      NOT NULL PRIMARY KEY,
    source          text        NOT NULL,
    -- The newest event the dictionary was trained on, which orders a source's dictionaries.
    trained_through timestamptz NOT NULL,
    samples         integer     NOT NULL,
    content         bytea       NOT NULL
);

-- zstd dictionaries trained on a source's own payloads (herald-store's trained.rs): a
-- payload frame made against one names it by id in its header. Never deleted: a frame
-- needs its dictionary for as long as the event is kept.
CREATE TABLE zstd_dictionaries (
    -- zstd's dictionary id, which zstd derives from the content.
    id              INTEGER NOT NULL PRIMARY KEY,
    source          TEXT    NOT NULL,
    -- The newest event the dictionary was trained on (ms since the epoch), which orders a
    -- source's dictionaries.
    trained_through INTEGER NOT NULL,
    samples         INTEGER NOT NULL,
    content         BLOB    NOT NULL
) STRICT;

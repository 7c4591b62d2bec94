-- A payload of 1 KiB or more is stored as a zstd frame that herald makes on the request's
-- task (payload_zstd), as SQLite keeps it (its migration 0007), and payload is NULL.
-- Parsing each payload into jsonb and compressing it with TOAST was half of a write
-- batch's time on the database's one busy core; a frame is a third of the bytes TOAST
-- kept (docs/benchmarks.md). Rows written before keep their jsonb; both read back.
ALTER TABLE events ADD COLUMN payload_zstd bytea;
ALTER TABLE events ALTER COLUMN payload DROP NOT NULL;
-- A frame does not shrink again: TOAST may move a large one out of line, but not
-- compress it.
ALTER TABLE events ALTER COLUMN payload_zstd SET STORAGE EXTERNAL;

-- An attempt's request of 1 KiB or more likewise (request_zstd, zstd level 3, as SQLite's
-- migration 0013 keeps it): an `http` action forwarding a push sent 4.7 KB a request,
-- which TOAST kept in 2 KB.
ALTER TABLE attempts ADD COLUMN request_zstd bytea;
ALTER TABLE attempts ALTER COLUMN request_zstd SET STORAGE EXTERNAL;

-- SQLite has no TOAST: a payload of 1 KiB or more is stored as a zstd frame in
-- payload_zstd, and payload is left empty. Payloads were 22 of the 78 log pages a batch
-- of 13 events wrote. Rows stored before keep their text.
ALTER TABLE events ADD COLUMN payload_zstd BLOB;

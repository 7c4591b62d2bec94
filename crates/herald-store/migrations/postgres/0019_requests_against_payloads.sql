-- As SQLite's migration 0015: an attempt's request of 1 KiB or more, made from an event,
-- is kept as a zstd frame compressed with the event's payload as its dictionary (raw
-- content). An `http` action forwarding a payload sends the payload itself, which the frame
-- then refers to instead of holding again. Reading it needs the event's payload, which
-- retention keeps while the delivery is kept. request and request_zstd stay NULL for such
-- an attempt; attempts stored before keep their columns.
ALTER TABLE attempts ADD COLUMN request_against bytea;
ALTER TABLE attempts ALTER COLUMN request_against SET STORAGE EXTERNAL;

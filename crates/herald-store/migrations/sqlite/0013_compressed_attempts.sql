-- An attempt's request and response body of 1 KiB or more are kept as zstd frames, as
-- payloads are since 0007: the request holds the body as sent, so an HTTP action that
-- forwards a 4 KB payload stored about 4.8 KB per attempt, more than the event itself.
-- A compressed value leaves its text column NULL. Attempts stored before keep their text.
ALTER TABLE attempts ADD COLUMN request_zstd BLOB;
ALTER TABLE attempts ADD COLUMN response_zstd BLOB;

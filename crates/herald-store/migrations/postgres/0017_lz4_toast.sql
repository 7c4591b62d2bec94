-- Large values (payloads, attempts' requests and responses) are compressed by TOAST with
-- lz4 rather than pglz: a batch's INSERT INTO events spent much of its time compressing
-- 4 KB payloads with pglz, and lz4 also reads back faster (docs/benchmarks.md). Rows
-- written before keep pglz; both read back. A server built without lz4, or one older than
-- PostgreSQL 14, keeps pglz.
DO $$
BEGIN
    EXECUTE 'ALTER TABLE events ALTER COLUMN payload SET COMPRESSION lz4,
                 ALTER COLUMN payload_text SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE attempts ALTER COLUMN request SET COMPRESSION lz4,
                 ALTER COLUMN response_body SET COMPRESSION lz4';
EXCEPTION WHEN feature_not_supported OR syntax_error THEN
    RAISE NOTICE 'large values stay compressed with pglz: %', SQLERRM;
END
$$;

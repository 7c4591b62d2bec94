-- Registered hooks: endpoints created at run time under a registry source
-- (`/hooks/{source}/{id}`), one per repository, each with its own secret. Secrets are kept
-- only as ciphertext with the nonce they were sealed with; after a rotation the replaced
-- one stays valid until `previous_valid_until`.
CREATE TABLE hooks (
    source               TEXT    NOT NULL,
    id                   TEXT    NOT NULL,
    repository           TEXT    NOT NULL,
    secret               BLOB    NOT NULL,
    secret_nonce         BLOB    NOT NULL,
    previous_secret      BLOB,
    previous_nonce       BLOB,
    previous_valid_until INTEGER,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    PRIMARY KEY (source, id)
) STRICT;

-- The hook an event was delivered to, for `meta.hook` (NULL for every other event).
ALTER TABLE events ADD COLUMN hook_id TEXT;
ALTER TABLE events ADD COLUMN hook_repository TEXT;

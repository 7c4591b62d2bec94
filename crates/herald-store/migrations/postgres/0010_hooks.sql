-- Registered hooks: endpoints created at run time under a registry source
-- (`/hooks/{source}/{id}`), one per repository, each with its own secret. Secrets are kept
-- only as ciphertext with the nonce they were sealed with; after a rotation the replaced
-- one stays valid until `previous_valid_until`.
CREATE TABLE hooks (
    -- Byte order, as on SQLite, whatever the database's collation: hooks are listed by
    -- (source, id) straight from the primary key.
    source               text        COLLATE "C" NOT NULL,
    id                   text        COLLATE "C" NOT NULL,
    repository           text        NOT NULL,
    secret               bytea       NOT NULL,
    secret_nonce         bytea       NOT NULL,
    previous_secret      bytea,
    previous_nonce       bytea,
    previous_valid_until timestamptz,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    PRIMARY KEY (source, id)
);

-- The hook an event was delivered to, for `meta.hook` (NULL for every other event).
ALTER TABLE events ADD COLUMN hook_id text;
ALTER TABLE events ADD COLUMN hook_repository text;

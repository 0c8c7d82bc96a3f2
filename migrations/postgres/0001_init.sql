-- Versioned metadata, the changefeed and server-managed keys: the tables of
-- migrations/sqlite/0001_init.sql in PostgreSQL types.

CREATE TABLE tuf_files (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL,
    gun TEXT NOT NULL,
    role TEXT NOT NULL,
    version BIGINT NOT NULL,
    data BYTEA NOT NULL,
    sha256 TEXT NOT NULL,
    CONSTRAINT tuf_files_gun_role_version UNIQUE (gun, role, version)
);
CREATE INDEX tuf_files_gun_role_sha256 ON tuf_files (gun, role, sha256);

-- IDs are assigned by the writer as MAX(id) + 1 under one advisory lock held until commit, not
-- by a sequence: a sequence hands out IDs that commit out of order and leaves holes on
-- rollback, and a reader paging with `change_id` would skip a record committed late.
CREATE TABLE changefeed (
    id BIGINT PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL,
    gun TEXT NOT NULL,
    version BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    category TEXT NOT NULL CHECK (category IN ('update', 'deletion'))
);
CREATE INDEX changefeed_gun ON changefeed (gun, id);

CREATE TABLE server_keys (
    gun TEXT NOT NULL,
    role TEXT NOT NULL,
    generation BIGINT NOT NULL,
    key_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    public BYTEA NOT NULL,
    sealed_private BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT server_keys_gun_role_generation PRIMARY KEY (gun, role, generation)
);
CREATE INDEX server_keys_key_id ON server_keys (gun, key_id);

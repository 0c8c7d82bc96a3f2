-- Versioned metadata, the changefeed and server-managed keys.
-- Portable SQL: the PostgreSQL migration of the same number differs only in types.

CREATE TABLE tuf_files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    gun TEXT NOT NULL,
    role TEXT NOT NULL,
    version INTEGER NOT NULL,
    data BLOB NOT NULL,
    sha256 TEXT NOT NULL,
    CONSTRAINT tuf_files_gun_role_version UNIQUE (gun, role, version)
);
CREATE INDEX tuf_files_gun_role_sha256 ON tuf_files (gun, role, sha256);

CREATE TABLE changefeed (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    gun TEXT NOT NULL,
    version INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    category TEXT NOT NULL CHECK (category IN ('update', 'deletion'))
);
CREATE INDEX changefeed_gun ON changefeed (gun, id);

CREATE TABLE server_keys (
    gun TEXT NOT NULL,
    role TEXT NOT NULL,
    generation INTEGER NOT NULL,
    key_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    public BLOB NOT NULL,
    sealed_private BLOB NOT NULL,
    created_at TEXT NOT NULL,
    CONSTRAINT server_keys_gun_role_generation PRIMARY KEY (gun, role, generation)
);
CREATE INDEX server_keys_key_id ON server_keys (gun, key_id);

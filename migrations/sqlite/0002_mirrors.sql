-- Repositories copied from another trust server (`notarium mirror`): served read-only until the
-- owner has moved every role whose key the other server holds (`server_roles`, comma-separated).
CREATE TABLE mirrored_repos (
    gun TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    server_roles TEXT NOT NULL,
    created_at TEXT NOT NULL
);

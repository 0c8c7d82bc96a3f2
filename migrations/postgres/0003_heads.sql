-- The newest version of each role with its hash and time, from the index alone: a reader that
-- keeps the files it parsed (by hash) learns whether they are still current without reading
-- any file's bytes.
CREATE INDEX tuf_files_heads ON tuf_files (gun, role, version, sha256, created_at);

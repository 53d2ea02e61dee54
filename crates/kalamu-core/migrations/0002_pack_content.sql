-- Kalamu store, schema 2: trusted publishers and installed pack content.
-- Content bytes live in the attached chunk store (chunks.db); these tables
-- say which chunks make up each file.

CREATE TABLE trusted_publishers (
    public_key TEXT PRIMARY KEY,             -- hex Ed25519 public key
    name       TEXT NOT NULL,
    added_at   INTEGER NOT NULL
) STRICT;

ALTER TABLE packs ADD COLUMN manifest BLOB NOT NULL DEFAULT x'';   -- the signed manifest bytes

CREATE TABLE pack_files (
    pack_id    TEXT NOT NULL REFERENCES packs(id) ON DELETE CASCADE,
    path       TEXT NOT NULL,
    size       INTEGER NOT NULL,
    content    BLOB NOT NULL,                -- BLAKE3 of the whole file
    media_type TEXT NOT NULL,
    PRIMARY KEY (pack_id, path)
) STRICT, WITHOUT ROWID;

CREATE INDEX pack_files_by_content ON pack_files(content);

CREATE TABLE content_chunks (
    content BLOB NOT NULL,                   -- BLAKE3 of the whole file
    idx     INTEGER NOT NULL,                -- chunk number from 0
    chunk   BLOB NOT NULL,                   -- BLAKE3 of the chunk, key in chunks.db
    len     INTEGER NOT NULL,
    PRIMARY KEY (content, idx)
) STRICT, WITHOUT ROWID;

CREATE INDEX content_chunks_by_chunk ON content_chunks(chunk);

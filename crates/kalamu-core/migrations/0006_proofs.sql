-- Kalamu store, schema 6: proof of origin. This device's signing key, the
-- keys of other devices as first seen, and marks of each device's chain of
-- events, so a chain is extended without reading it from the start.

ALTER TABLE device ADD COLUMN signing_key BLOB;  -- Ed25519 seed, made on first use

CREATE TABLE device_keys (
    device_id  TEXT PRIMARY KEY,
    public_key BLOB NOT NULL                       -- pinned the first time a proof of the device arrives
) STRICT;

CREATE TABLE chain_marks (
    device_id TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    digest    BLOB NOT NULL,                       -- the chain of the device's events 1..=seq
    PRIMARY KEY (device_id, seq)
) STRICT, WITHOUT ROWID;

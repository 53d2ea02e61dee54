-- Kalamu hub, schema 1: centers, enrolment, devices, learners and the
-- union of every device's progress events.

CREATE TABLE centers (
    id         TEXT PRIMARY KEY,             -- UUID
    name       TEXT NOT NULL UNIQUE,
    bundle_key TEXT NOT NULL,                -- hex key that seals the center's sync bundles
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE enroll_codes (
    code_hash  TEXT PRIMARY KEY,             -- BLAKE3 of the code; the code itself is never stored
    center_id  TEXT NOT NULL REFERENCES centers(id),
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    used_by    TEXT
) STRICT;

CREATE TABLE devices (
    id              TEXT PRIMARY KEY,        -- the laptop's own device id
    center_id       TEXT NOT NULL REFERENCES centers(id),
    name            TEXT NOT NULL,
    token_hash      TEXT NOT NULL UNIQUE,    -- BLAKE3 of the credential
    enrolled_at     INTEGER NOT NULL,
    revoked_at      INTEGER,
    last_seen_at    INTEGER,
    clock_offset_ms INTEGER                  -- laptop clock minus hub clock, at its last request
) STRICT;

CREATE TABLE learners (
    id         TEXT PRIMARY KEY,
    center_id  TEXT NOT NULL REFERENCES centers(id),
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    pin_hash   TEXT
) STRICT;

CREATE TABLE events (
    id          TEXT PRIMARY KEY,
    center_id   TEXT NOT NULL,
    learner_id  TEXT NOT NULL,
    device_id   TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    hlc         INTEGER NOT NULL,
    pack_id     TEXT NOT NULL,
    lesson_id   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    body        TEXT NOT NULL,
    received_at INTEGER NOT NULL,            -- hub clock when it arrived
    UNIQUE (device_id, seq)
) STRICT;

-- The version vector, kept up to date so no sync has to scan events.
CREATE TABLE heads (
    device_id TEXT PRIMARY KEY,
    center_id TEXT NOT NULL,
    seq       INTEGER NOT NULL
) STRICT;
CREATE INDEX heads_by_center ON heads(center_id);

CREATE TRIGGER events_are_never_updated BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'progress events are append-only: never updated');
END;

CREATE TRIGGER events_are_never_deleted BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'progress events are append-only: never deleted');
END;

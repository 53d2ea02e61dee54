-- Kalamu store, schema 3: this device's identity and clock, and the
-- append-only progress log.

CREATE TABLE device (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    id        TEXT NOT NULL,                 -- UUID of this device, made once
    next_seq  INTEGER NOT NULL,              -- sequence number of the next event recorded here
    last_hlc  INTEGER NOT NULL               -- highest hybrid logical clock stamp seen
) STRICT;

CREATE TABLE events (
    id         TEXT PRIMARY KEY,             -- UUIDv7, globally unique
    learner_id TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    seq        INTEGER NOT NULL,             -- per-device sequence number from 1
    hlc        INTEGER NOT NULL,             -- (milliseconds << 16) | logical counter
    pack_id    TEXT NOT NULL,
    lesson_id  TEXT NOT NULL,
    kind       TEXT NOT NULL,
    body       TEXT NOT NULL,                -- the event's details, JSON
    UNIQUE (device_id, seq)
) STRICT;

CREATE INDEX events_by_learner ON events(learner_id, hlc);

CREATE TRIGGER events_are_never_updated BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'progress events are append-only: never updated');
END;

CREATE TRIGGER events_are_never_deleted BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'progress events are append-only: never deleted');
END;

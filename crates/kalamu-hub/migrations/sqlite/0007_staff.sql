-- Kalamu hub, schema 7: staff and what they read.
--
-- Staff accounts sign in to the hub's pages; the publishers the hub trusts
-- and the packs it holds give the reports their titles and questions; and a
-- projection of the runs (rebuilt from them at will) keeps every report a few
-- indexed reads away however many events the hub holds.

CREATE TABLE staff (
    id            TEXT PRIMARY KEY,             -- UUID
    name          TEXT NOT NULL UNIQUE,         -- what they sign in with
    center_id     TEXT REFERENCES centers(id),  -- a coach's one center; NULL for an admin
    password_hash TEXT NOT NULL,                -- Argon2id, PHC string
    must_change   INTEGER NOT NULL,             -- 1 until a one-time password is replaced
    created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE staff_sessions (
    token_hash TEXT PRIMARY KEY,                -- BLAKE3 of the cookie's value
    staff_id   TEXT NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    csrf       TEXT NOT NULL,                   -- the token every form of the session carries
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX staff_sessions_by_staff ON staff_sessions(staff_id);

-- Failed sign-ins, by account name and by address, in the current window.
CREATE TABLE signin_failures (
    key          TEXT PRIMARY KEY,              -- 'name:…' or 'addr:…'
    window_start INTEGER NOT NULL,
    failures     INTEGER NOT NULL
) STRICT;

CREATE TABLE publishers (
    public_key TEXT PRIMARY KEY,                -- hex Ed25519
    name       TEXT NOT NULL,
    added_at   INTEGER NOT NULL
) STRICT;

-- Packs published to the hub: the newest version of each, verified whole.
CREATE TABLE packs (
    id           TEXT PRIMARY KEY,
    version      TEXT NOT NULL,
    title        TEXT NOT NULL,
    manifest     BLOB NOT NULL,                 -- the exact signed manifest bytes
    signer       TEXT NOT NULL,
    bytes        INTEGER NOT NULL,              -- the pack file's size
    published_at INTEGER NOT NULL
) STRICT;

-- The pack file itself, in 1 MiB pieces, so the hub's database is all its state.
CREATE TABLE pack_pieces (
    pack_id TEXT NOT NULL REFERENCES packs(id) ON DELETE CASCADE,
    n       INTEGER NOT NULL,
    bytes   BLOB NOT NULL,
    PRIMARY KEY (pack_id, n)
) STRICT, WITHOUT ROWID;

-- The projection. How far it has read each device's events:
CREATE TABLE projected (
    device_id TEXT PRIMARY KEY,
    seq       INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- One learner's tally in one lesson (kalamu_core::progress::tally).
CREATE TABLE lesson_tallies (
    learner_id TEXT NOT NULL,
    pack_id    TEXT NOT NULL,
    lesson_id  TEXT NOT NULL,
    center_id  TEXT NOT NULL,
    opened     INTEGER NOT NULL,
    completed  INTEGER NOT NULL,
    attempts   INTEGER NOT NULL,
    best_score INTEGER,
    best_max   INTEGER,
    mastered   INTEGER NOT NULL,
    seconds    INTEGER NOT NULL,
    last_at    INTEGER NOT NULL,                -- latest stamp's wall-clock part (unix ms)
    PRIMARY KEY (center_id, learner_id, pack_id, lesson_id)
) STRICT, WITHOUT ROWID;

-- How often each learner gave each answer to each quiz item.
CREATE TABLE item_answers (
    pack_id    TEXT NOT NULL,
    lesson_id  TEXT NOT NULL,
    item       TEXT NOT NULL,
    learner_id TEXT NOT NULL,
    answer     TEXT NOT NULL,                   -- the answer as JSON
    center_id  TEXT NOT NULL,
    times      INTEGER NOT NULL,
    PRIMARY KEY (center_id, pack_id, lesson_id, item, learner_id, answer)
) STRICT, WITHOUT ROWID;

-- A learner's activity, a row per day, laptop and lesson.
CREATE TABLE activity (
    learner_id TEXT NOT NULL,
    day        INTEGER NOT NULL,                -- days since 1970 (UTC), by the event's stamp
    device_id  TEXT NOT NULL,
    pack_id    TEXT NOT NULL,
    lesson_id  TEXT NOT NULL,
    center_id  TEXT NOT NULL,
    first_at   INTEGER NOT NULL,
    last_at    INTEGER NOT NULL,
    events     INTEGER NOT NULL,
    completed  INTEGER NOT NULL,
    attempts   INTEGER NOT NULL,
    seconds    INTEGER NOT NULL,
    PRIMARY KEY (center_id, learner_id, day, device_id, pack_id, lesson_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX activity_by_day ON activity(center_id, day);

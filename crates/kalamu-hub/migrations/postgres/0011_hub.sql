-- The hub's schema on PostgreSQL, as SQLite's schema stands after its
-- migration 0011: a country's hub starts here, at the same number. Later
-- changes come as files numbered as SQLite's.

CREATE TABLE centers (
    id         TEXT PRIMARY KEY,                -- UUID
    name       TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE enroll_codes (
    code_hash  TEXT PRIMARY KEY,                -- the code's slow key; the code itself is never stored
    center_id  TEXT NOT NULL REFERENCES centers(id),
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    used_by    TEXT,
    device_id  TEXT                             -- the one laptop a code is for, if it is
);
CREATE INDEX enroll_codes_by_expiry ON enroll_codes(expires_at);

CREATE TABLE devices (
    id              TEXT PRIMARY KEY,           -- the laptop's own device id
    center_id       TEXT NOT NULL REFERENCES centers(id),
    name            TEXT NOT NULL,
    token_hash      TEXT NOT NULL UNIQUE,       -- BLAKE3 of the credential
    next_token_hash TEXT UNIQUE,                -- the credential it offered to use next
    enrolled_at     BIGINT NOT NULL,
    revoked_at      BIGINT,
    last_seen_at    BIGINT,
    clock_offset_ms BIGINT,                     -- laptop clock minus hub clock, at its last request
    public_key      BYTEA                       -- Ed25519
);
CREATE INDEX devices_by_center ON devices(center_id);

CREATE TABLE learners (
    id         TEXT PRIMARY KEY,
    center_id  TEXT NOT NULL REFERENCES centers(id),
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    pin_hash   TEXT,
    added_by   TEXT,
    added_at   BIGINT
);
CREATE INDEX learners_by_center ON learners(center_id, name);
CREATE INDEX learners_added ON learners(added_by, added_at) WHERE added_by IS NOT NULL;

CREATE TABLE heads (
    device_id TEXT PRIMARY KEY,
    center_id TEXT NOT NULL,
    seq       BIGINT NOT NULL
);
CREATE INDEX heads_by_center ON heads(center_id);

CREATE TABLE runs (
    device_id   TEXT NOT NULL,
    last_seq    BIGINT NOT NULL,
    first_seq   BIGINT NOT NULL,
    center_id   TEXT NOT NULL,
    bytes       BYTEA NOT NULL,                 -- a wire batch of the device's events first_seq..=last_seq
    received_at BIGINT NOT NULL,
    PRIMARY KEY (device_id, last_seq)
);

CREATE TABLE event_ids (
    id        TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    seq       BIGINT NOT NULL
);

CREATE TABLE chains (
    device_id TEXT PRIMARY KEY,
    seq       BIGINT NOT NULL,
    digest    BYTEA NOT NULL                    -- the chain of the device's events 1..=seq
);

CREATE FUNCTION kalamu_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'progress events are append-only: % rows are never changed', TG_TABLE_NAME;
END
$$;
CREATE TRIGGER runs_are_append_only BEFORE UPDATE OR DELETE ON runs
    FOR EACH ROW EXECUTE FUNCTION kalamu_append_only();
CREATE TRIGGER event_ids_are_append_only BEFORE UPDATE OR DELETE ON event_ids
    FOR EACH ROW EXECUTE FUNCTION kalamu_append_only();

CREATE TABLE staff (
    id            TEXT PRIMARY KEY,             -- UUID
    name          TEXT NOT NULL UNIQUE,         -- what they sign in with
    center_id     TEXT REFERENCES centers(id),  -- a coach's one center; NULL for an admin
    password_hash TEXT NOT NULL,                -- Argon2id, PHC string
    must_change   BOOLEAN NOT NULL,             -- until a one-time password is replaced
    created_at    BIGINT NOT NULL
);

CREATE TABLE staff_sessions (
    token_hash TEXT PRIMARY KEY,                -- BLAKE3 of the cookie's value
    staff_id   TEXT NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    csrf       TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX staff_sessions_by_staff ON staff_sessions(staff_id);

CREATE TABLE signin_failures (
    key          TEXT PRIMARY KEY,              -- 'name:…' or 'addr:…'
    window_start BIGINT NOT NULL,
    failures     BIGINT NOT NULL
);

CREATE TABLE publishers (
    public_key TEXT PRIMARY KEY,                -- hex Ed25519
    name       TEXT NOT NULL,
    added_at   BIGINT NOT NULL
);

CREATE TABLE packs (
    id           TEXT PRIMARY KEY,
    version      TEXT NOT NULL,
    title        TEXT NOT NULL,
    manifest     BYTEA NOT NULL,                -- the exact signed manifest bytes
    signer       TEXT NOT NULL,
    bytes        BIGINT NOT NULL,               -- the pack file's size
    published_at BIGINT NOT NULL
);

CREATE TABLE pack_pieces (
    pack_id TEXT NOT NULL REFERENCES packs(id) ON DELETE CASCADE,
    n       BIGINT NOT NULL,
    bytes   BYTEA NOT NULL,
    PRIMARY KEY (pack_id, n)
);

CREATE TABLE projected (
    device_id TEXT PRIMARY KEY,
    seq       BIGINT NOT NULL
);

CREATE TABLE lesson_tallies (
    learner_id TEXT NOT NULL,
    pack_id    TEXT NOT NULL,
    lesson_id  TEXT NOT NULL,
    center_id  TEXT NOT NULL,
    opened     BOOLEAN NOT NULL,
    completed  BOOLEAN NOT NULL,
    attempts   BIGINT NOT NULL,
    best_score BIGINT,
    best_max   BIGINT,
    mastered   BOOLEAN NOT NULL,
    seconds    BIGINT NOT NULL,
    last_at    BIGINT NOT NULL,                 -- latest stamp's wall-clock part (unix ms)
    PRIMARY KEY (center_id, learner_id, pack_id, lesson_id)
);

CREATE TABLE item_answers (
    pack_id    TEXT NOT NULL,
    lesson_id  TEXT NOT NULL,
    item       TEXT NOT NULL,
    learner_id TEXT NOT NULL,
    answer     TEXT NOT NULL,                   -- the answer as JSON
    center_id  TEXT NOT NULL,
    times      BIGINT NOT NULL,
    PRIMARY KEY (center_id, pack_id, lesson_id, item, learner_id, answer)
);

CREATE TABLE activity (
    learner_id TEXT NOT NULL,
    day        BIGINT NOT NULL,                 -- days since 1970 (UTC), by the event's stamp
    device_id  TEXT NOT NULL,
    pack_id    TEXT NOT NULL,
    lesson_id  TEXT NOT NULL,
    center_id  TEXT NOT NULL,
    first_at   BIGINT NOT NULL,
    last_at    BIGINT NOT NULL,
    events     BIGINT NOT NULL,
    completed  BIGINT NOT NULL,
    attempts   BIGINT NOT NULL,
    seconds    BIGINT NOT NULL,
    PRIMARY KEY (center_id, learner_id, day, device_id, pack_id, lesson_id)
);
CREATE INDEX activity_by_day ON activity(center_id, day);

CREATE TABLE required_packs (
    center_id TEXT NOT NULL REFERENCES centers(id),
    pack_id   TEXT NOT NULL,
    PRIMARY KEY (center_id, pack_id)
);

CREATE TABLE held_packs (
    device_id TEXT NOT NULL REFERENCES devices(id),
    pack_id   TEXT NOT NULL,
    version   TEXT NOT NULL,
    told_at   BIGINT NOT NULL,
    PRIMARY KEY (device_id, pack_id)
);

CREATE TABLE tls_identity (
    singleton   INTEGER PRIMARY KEY CHECK (singleton = 1),
    certificate BYTEA NOT NULL,                 -- DER
    private_key BYTEA NOT NULL,                 -- PKCS#8 DER
    made_at     BIGINT NOT NULL
);

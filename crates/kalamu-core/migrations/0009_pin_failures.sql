-- Kalamu store, schema 9: wrong PINs in a row, per learner, so that guesses
-- at the sign-in prompt slow down. Kept on this laptop only: it never syncs.

CREATE TABLE pin_failures (
    learner_id     TEXT PRIMARY KEY REFERENCES learners (id) ON DELETE CASCADE,
    failures       INTEGER NOT NULL,
    last_failed_at INTEGER NOT NULL            -- unix ms, this laptop's clock
) STRICT;

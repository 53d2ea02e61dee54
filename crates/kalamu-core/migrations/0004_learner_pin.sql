-- Kalamu store, schema 4: an optional PIN per learner on a shared laptop.
-- A keyed hash of the PIN, never the PIN; NULL when the learner has none.

ALTER TABLE learners ADD COLUMN pin_hash TEXT;

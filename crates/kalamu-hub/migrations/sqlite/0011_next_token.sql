-- Kalamu hub, schema 11: credentials rotate. A laptop offers the hash of its
-- next credential; both work until the laptop first uses the new one, which
-- then replaces the old for good. So a rotation cut off half-way locks no
-- laptop out.

ALTER TABLE devices ADD COLUMN next_token_hash TEXT;
CREATE UNIQUE INDEX devices_next_token ON devices (next_token_hash) WHERE next_token_hash IS NOT NULL;

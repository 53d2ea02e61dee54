-- Kalamu store, schema 10: the laptop's credential rotates. The next one is
-- kept here before it is offered to the hub, so a rotation cut off at any
-- point leaves the laptop with a credential that works.

ALTER TABLE hub_link ADD COLUMN next_device_token TEXT;
ALTER TABLE hub_link ADD COLUMN token_at INTEGER;       -- when the current credential began (unix ms)

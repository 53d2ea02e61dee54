-- Kalamu store, schema 7: the hub's TLS key, pinned at enrolment. NULL for a
-- hub reached over plain HTTP (loopback, or behind a proxy the laptop trusts).

ALTER TABLE hub_link ADD COLUMN hub_key TEXT;

-- Kalamu store, schema 5: this laptop's enrolment with its center's hub, and
-- what the hub is known to hold, so the pending count needs no network.

CREATE TABLE hub_link (
    singleton    INTEGER PRIMARY KEY CHECK (singleton = 1),
    hub_url      TEXT NOT NULL,
    center_id    TEXT NOT NULL,
    center_name  TEXT NOT NULL,
    device_token TEXT NOT NULL,              -- the credential this laptop shows the hub
    center_key   TEXT NOT NULL,              -- hex key that seals the center's sync bundles
    enrolled_at  INTEGER NOT NULL,
    last_sync_at INTEGER                     -- unix ms of the last sync that finished
) STRICT;

-- Highest sequence number per recording device that the hub has acknowledged.
CREATE TABLE hub_vector (
    device_id TEXT PRIMARY KEY,
    seq       INTEGER NOT NULL
) STRICT;

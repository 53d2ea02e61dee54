-- A center's hub that relays its laptops' progress to this hub (a
-- country's) enrols with a code made for it. It may push the events of any
-- laptop of its center, each still signed by that laptop; the laptops it
-- names become devices of its center here.
ALTER TABLE enroll_codes ADD COLUMN relay INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN relay INTEGER NOT NULL DEFAULT 0;

-- This hub's link to the hub above it, if it relays one of its centers there.
CREATE TABLE upstream (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    center_id TEXT NOT NULL REFERENCES centers(id),  -- the center whose progress goes up
    url       TEXT NOT NULL,
    hub_key   TEXT,                                  -- the upper hub's TLS key, pinned (none on plain HTTP)
    token     TEXT NOT NULL,                         -- this hub's credential there
    linked_at INTEGER NOT NULL
) STRICT;

-- Proof of origin: each laptop's public key (given at enrolment, or with its
-- first signed push if it enrolled before), and each device's chain of events
-- through its head, which the next push extends and its signature must hold for.
ALTER TABLE devices ADD COLUMN public_key BLOB;

CREATE TABLE chains (
    device_id TEXT PRIMARY KEY,
    seq       INTEGER NOT NULL,
    digest    BLOB NOT NULL                    -- the chain of the device's events 1..=seq
) STRICT;

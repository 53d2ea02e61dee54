-- Kalamu hub, schema 2: runs, each device's events also kept as the encoded
-- batches they arrived in, so a pull sends stored bytes instead of encoding
-- every event again. A device's runs cover 1..head in order, without overlap;
-- the hub makes the runs of events stored before this schema when it opens.

-- Clustered by device and sequence, so a pull finds a device's runs in one descent.
CREATE TABLE runs (
    device_id TEXT NOT NULL,
    last_seq  INTEGER NOT NULL,
    first_seq INTEGER NOT NULL,
    center_id TEXT NOT NULL,
    bytes     BLOB NOT NULL,                 -- a wire batch of the device's events first_seq..=last_seq
    PRIMARY KEY (device_id, last_seq)
) STRICT, WITHOUT ROWID;

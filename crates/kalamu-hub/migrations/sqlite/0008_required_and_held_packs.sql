-- Kalamu hub, schema 8: the courses a center requires its laptops to hold,
-- which laptops fetch by themselves, and which packs each laptop says it holds.

CREATE TABLE required_packs (
    center_id TEXT NOT NULL REFERENCES centers(id),
    pack_id   TEXT NOT NULL,
    PRIMARY KEY (center_id, pack_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE held_packs (
    device_id TEXT NOT NULL REFERENCES devices(id),
    pack_id   TEXT NOT NULL,
    version   TEXT NOT NULL,
    told_at   INTEGER NOT NULL,               -- when the laptop said so (hub clock, unix ms)
    PRIMARY KEY (device_id, pack_id)
) STRICT, WITHOUT ROWID;

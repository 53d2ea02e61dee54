-- Kalamu hub, schema 3: runs become the only copy of the events. A push then
-- writes one run and one small index row per event instead of three B-tree
-- entries of a whole event each, which is what a thousand laptops syncing at
-- once wait on. Before this runs, the hub has made sure every device's runs
-- cover its events (see sqlite/migrate.rs).

-- Which device and sequence number each event id belongs to: an id is used by
-- one event only, so no laptop can poison another's store with a reused id.
CREATE TABLE event_ids (
    id        TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    seq       INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

INSERT INTO event_ids (id, device_id, seq) SELECT id, device_id, seq FROM events;

-- Hub clock when the run's events arrived.
ALTER TABLE runs ADD COLUMN received_at INTEGER NOT NULL DEFAULT 0;

UPDATE runs SET received_at = coalesce(
    (SELECT max(e.received_at) FROM events e
     WHERE e.device_id = runs.device_id AND e.seq BETWEEN runs.first_seq AND runs.last_seq),
    0);

DROP TABLE events;

CREATE TRIGGER runs_are_never_updated BEFORE UPDATE ON runs
BEGIN
    SELECT RAISE(ABORT, 'progress events are append-only: runs are never updated');
END;

CREATE TRIGGER runs_are_never_deleted BEFORE DELETE ON runs
BEGIN
    SELECT RAISE(ABORT, 'progress events are append-only: runs are never deleted');
END;

CREATE TRIGGER event_ids_are_never_updated BEFORE UPDATE ON event_ids
BEGIN
    SELECT RAISE(ABORT, 'progress events are append-only: event ids are never updated');
END;

CREATE TRIGGER event_ids_are_never_deleted BEFORE DELETE ON event_ids
BEGIN
    SELECT RAISE(ABORT, 'progress events are append-only: event ids are never deleted');
END;

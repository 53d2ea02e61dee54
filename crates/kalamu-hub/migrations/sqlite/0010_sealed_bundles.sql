-- Kalamu hub, schema 10: sync bundles are encrypted to each enrolled laptop's
-- own key and signed with the hub's, so the center-wide key every laptop
-- held (and a former laptop could read and forge bundles with) is gone.

ALTER TABLE centers DROP COLUMN bundle_key;

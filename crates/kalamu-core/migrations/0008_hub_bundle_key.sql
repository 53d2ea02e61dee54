-- Kalamu store, schema 8: sync bundles are encrypted to their readers and
-- signed by their maker. The center-wide key every laptop held is gone (a
-- former laptop could read and forge with it); the hub's own bundle key
-- replaces it. NULL for a laptop enrolled before, until its next sync.

ALTER TABLE hub_link DROP COLUMN center_key;
ALTER TABLE hub_link ADD COLUMN hub_bundle_key TEXT;

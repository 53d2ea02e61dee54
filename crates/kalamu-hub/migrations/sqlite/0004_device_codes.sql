-- A code staff make for one laptop (to give it a new credential) names it;
-- a code without a device enrols a new laptop only.
ALTER TABLE enroll_codes ADD COLUMN device_id TEXT;

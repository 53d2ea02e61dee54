-- Which laptop first told the hub of a learner, and when: a laptop may add
-- only so many learners a day (learners from before have neither).
ALTER TABLE learners ADD COLUMN added_by TEXT;
ALTER TABLE learners ADD COLUMN added_at INTEGER;
CREATE INDEX learners_added ON learners(added_by, added_at) WHERE added_by IS NOT NULL;

-- The bureau's process on a matter: what it says of it, who owns it, whether it
-- repeats an earlier one, its deadlines and when they were met, the reply and
-- the petitioner's satisfaction. Times are microseconds since the epoch.
ALTER TABLE petitions ADD COLUMN previous_handling TEXT NOT NULL DEFAULT '';
ALTER TABLE petitions ADD COLUMN leader_id TEXT NOT NULL DEFAULT '';
ALTER TABLE petitions ADD COLUMN repeat_of_case_id TEXT NOT NULL DEFAULT '';
ALTER TABLE petitions ADD COLUMN acceptance_due BIGINT;
ALTER TABLE petitions ADD COLUMN accepted_at BIGINT;
ALTER TABLE petitions ADD COLUMN handling_due BIGINT;
ALTER TABLE petitions ADD COLUMN extension_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE petitions ADD COLUMN reply TEXT NOT NULL DEFAULT '';
ALTER TABLE petitions ADD COLUMN concluded_at BIGINT;
ALTER TABLE petitions ADD COLUMN evaluated_at BIGINT;
CREATE INDEX petitions_bureau ON petitions (bureau_id, created_at);

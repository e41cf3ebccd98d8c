-- Set when routing gives up waiting for an organisation to accept: the
-- cancellation that follows escalates the case like a rejection.
ALTER TABLE referrals ADD COLUMN timed_out INTEGER NOT NULL DEFAULT 0;
CREATE INDEX referrals_waiting ON referrals (state, created_at);

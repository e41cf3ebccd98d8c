-- An organisation's open referrals, counted at every routing decision (its
-- load against its capacity). Without it the planner may count them through
-- referrals_waiting (state, created_at), reading every open referral of every
-- organisation for each organisation covering the place (seen: 9 ms a decision
-- with 4,000 open referrals); with it the count reads that organisation's own.
CREATE INDEX referrals_open_by_org ON referrals (org_id) WHERE state IN (1, 2, 3, 5, 6);

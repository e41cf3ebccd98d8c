-- The mediator a referral names (the applicant's honoured choice).
ALTER TABLE referrals ADD COLUMN mediator_id TEXT NOT NULL DEFAULT '';

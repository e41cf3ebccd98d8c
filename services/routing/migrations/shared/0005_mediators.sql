-- Mediators of each organisation, an office's public contact, and the
-- mediator a referral names (the applicant's honoured choice).
ALTER TABLE organisations ADD COLUMN contact TEXT NOT NULL DEFAULT '';
ALTER TABLE referrals ADD COLUMN mediator_id TEXT NOT NULL DEFAULT '';
CREATE TABLE mediators (
    mediator_id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    name TEXT NOT NULL,
    specialties TEXT NOT NULL,
    available INTEGER NOT NULL
);
CREATE INDEX mediators_org ON mediators (org_id);

-- Judicial confirmation of an agreement as the organisation sees it: state is
-- fengqiao.court.v1.ConfirmationState; consents comma-separated party numbers.
ALTER TABLE conclusions ADD COLUMN confirmation_state INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conclusions ADD COLUMN confirmation_consents TEXT NOT NULL DEFAULT '';
ALTER TABLE conclusions ADD COLUMN confirmation_court TEXT NOT NULL DEFAULT '';
ALTER TABLE conclusions ADD COLUMN confirmation_reason TEXT NOT NULL DEFAULT '';

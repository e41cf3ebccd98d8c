-- The verification code a party quotes with the case number to look up its
-- progress; empty for cases registered before codes existed (they cannot be
-- looked up).
ALTER TABLE case_status ADD COLUMN verification_code TEXT NOT NULL DEFAULT '';
CREATE INDEX case_status_case_no ON case_status (case_no);

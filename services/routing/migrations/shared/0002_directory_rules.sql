-- What rule-based routing needs of the directory: capacity (load spread), the
-- categories an industry committee takes ('|'-separated), and the agency an
-- office serves (a police station's, a court's, a petition bureau's).
ALTER TABLE organisations ADD COLUMN capacity INTEGER NOT NULL DEFAULT 100;
ALTER TABLE organisations ADD COLUMN categories TEXT NOT NULL DEFAULT '';
ALTER TABLE organisations ADD COLUMN agency_id TEXT NOT NULL DEFAULT '';
CREATE INDEX referrals_org_state ON referrals (org_id, state);

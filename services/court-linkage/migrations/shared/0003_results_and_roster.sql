-- What the court does next with a delegation (fengqiao.court.v1.CourtResult), with
-- the agreement or why it proceeds to filing; the designated roster members.
-- agreement_terms: one term per line.
ALTER TABLE delegations ADD COLUMN designated_org_id TEXT NOT NULL DEFAULT '';
ALTER TABLE delegations ADD COLUMN designated_mediator_id TEXT NOT NULL DEFAULT '';
ALTER TABLE delegations ADD COLUMN result INTEGER NOT NULL DEFAULT 0;
ALTER TABLE delegations ADD COLUMN filing_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE delegations ADD COLUMN agreement_sha256 TEXT NOT NULL DEFAULT '';
ALTER TABLE delegations ADD COLUMN agreement_terms TEXT NOT NULL DEFAULT '';
ALTER TABLE delegations ADD COLUMN agreement_amount_fen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE delegations ADD COLUMN performance_deadline TEXT NOT NULL DEFAULT '';

-- Each court's roster of invited organisations and mediators (特邀调解);
-- kind is fengqiao.court.v1.RosterKind.
CREATE TABLE roster (
    court_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    kind INTEGER NOT NULL,
    name TEXT NOT NULL,
    active INTEGER NOT NULL,
    PRIMARY KEY (court_id, member_id)
);

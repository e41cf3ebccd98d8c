-- Joint applications for judicial confirmation (司法确认) and the court's
-- handling; state is fengqiao.court.v1.ConfirmationState, consents
-- comma-separated party numbers, times microseconds since the epoch.
CREATE TABLE confirmations (
    application_id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    referral_id TEXT NOT NULL UNIQUE,
    org_id TEXT NOT NULL,
    court_id TEXT NOT NULL,
    state INTEGER NOT NULL,
    consents TEXT NOT NULL,
    agreement_sha256 TEXT NOT NULL,
    court_case_no TEXT NOT NULL,
    extended INTEGER NOT NULL,
    reason TEXT NOT NULL,
    applied_at BIGINT NOT NULL,
    accepted_at BIGINT,
    decided_at BIGINT
);
CREATE INDEX confirmations_by_court ON confirmations (court_id, applied_at);

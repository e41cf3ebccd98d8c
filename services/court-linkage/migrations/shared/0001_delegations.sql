-- Court-side records of delegated (诉前委派) and entrusted (诉中委托) mediation,
-- and the result each one came to.
CREATE TABLE delegations (
    delegation_id TEXT PRIMARY KEY,
    court_id TEXT NOT NULL,
    court_case_no TEXT NOT NULL,
    kind INTEGER NOT NULL,
    judge TEXT NOT NULL,
    case_id TEXT NOT NULL,
    referral_state INTEGER NOT NULL,
    outcome INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (court_id, court_case_no)
);
CREATE INDEX delegations_case ON delegations (case_id);

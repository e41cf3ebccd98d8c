-- The organisation directory (first shape; issue #6 widens it), the cases
-- routing has taken on, and the sending side of every referral.
CREATE TABLE organisations (
    org_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    level INTEGER NOT NULL,          -- 1 village, 2 township or street, 3 county
    division_code TEXT NOT NULL
);
CREATE INDEX organisations_division ON organisations (division_code, level);

CREATE TABLE routed_cases (
    case_id TEXT PRIMARY KEY,
    case_no TEXT NOT NULL,
    source_agency TEXT NOT NULL,
    division_code TEXT NOT NULL,
    risk_level INTEGER NOT NULL,
    dispute BLOB NOT NULL,
    returned_reason TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE referrals (
    referral_id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    level INTEGER NOT NULL,
    sender TEXT NOT NULL,
    state INTEGER NOT NULL,
    explanation TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX referrals_case ON referrals (case_id, created_at);

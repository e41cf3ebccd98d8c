-- The receiving side of referrals: each organisation's inbox and the work on it.
-- `dispute` holds the encoded fengqiao.common.v1.Dispute; states and outcomes
-- are the enum numbers of fengqiao.common.v1.
CREATE TABLE referrals (
    referral_id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    case_no TEXT NOT NULL,
    org_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    state INTEGER NOT NULL,
    dispute BYTEA,
    risk_level INTEGER NOT NULL,
    outcome INTEGER NOT NULL,
    summary TEXT NOT NULL,
    reason TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX referrals_inbox ON referrals (org_id, received_at);

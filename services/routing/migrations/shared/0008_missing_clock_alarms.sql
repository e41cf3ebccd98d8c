-- Referrals already announced as worked on without their clock (one alarm each).
CREATE TABLE missing_clock_alarms (
    referral_id TEXT PRIMARY KEY,
    raised_at BIGINT NOT NULL
);

-- Petition-side records of matters referred to mediation (访调对接), and the
-- result each one came to.
CREATE TABLE petitions (
    petition_id TEXT PRIMARY KEY,
    bureau_id TEXT NOT NULL,
    matter_no TEXT NOT NULL,
    case_id TEXT NOT NULL,
    referral_state INTEGER NOT NULL,
    outcome INTEGER NOT NULL,
    satisfaction INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (bureau_id, matter_no)
);
CREATE INDEX petitions_case ON petitions (case_id);

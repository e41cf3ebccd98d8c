-- The work on a referral: mediators, joint organisations, sessions, return
-- visits, the case file (the conclusion: 0004_conclusions.sql).
-- Times are microseconds since the epoch (UTC); enums are fengqiao.*.v1 numbers.
ALTER TABLE referrals ADD COLUMN lead_mediator_id TEXT NOT NULL DEFAULT '';
ALTER TABLE referrals ADD COLUMN clock_due_at BIGINT;
ALTER TABLE referrals ADD COLUMN source INTEGER NOT NULL DEFAULT 0;
ALTER TABLE referrals ADD COLUMN concluded_at BIGINT;
-- A difficulty tier set by staff instead of the rules (0: the rules decide).
ALTER TABLE referrals ADD COLUMN tier_override INTEGER NOT NULL DEFAULT 0;
ALTER TABLE referrals ADD COLUMN tier_reason TEXT NOT NULL DEFAULT '';
CREATE INDEX referrals_concluded ON referrals (org_id, concluded_at);

CREATE TABLE mediator_assignments (
    referral_id TEXT NOT NULL,
    mediator_id TEXT NOT NULL,
    role INTEGER NOT NULL,
    chosen_by_party INTEGER NOT NULL,
    reason TEXT NOT NULL,
    actor_org TEXT NOT NULL,
    actor_person TEXT NOT NULL,
    assigned_at BIGINT NOT NULL,
    PRIMARY KEY (referral_id, mediator_id)
);

CREATE TABLE joint_organisations (
    referral_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    state INTEGER NOT NULL,
    reason TEXT NOT NULL,
    invited_at BIGINT NOT NULL,
    answered_at BIGINT,
    PRIMARY KEY (referral_id, org_id)
);
CREATE INDEX joint_organisations_by_org ON joint_organisations (org_id);

-- party_numbers and absent_party_numbers: comma-separated; participant_ids: `|`-separated.
CREATE TABLE sessions (
    session_id TEXT PRIMARY KEY,
    referral_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    state INTEGER NOT NULL,
    scheduled_at BIGINT NOT NULL,
    place TEXT NOT NULL,
    online_link TEXT NOT NULL,
    party_numbers TEXT NOT NULL,
    participant_ids TEXT NOT NULL,
    record TEXT NOT NULL,
    absent_party_numbers TEXT NOT NULL,
    held_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX sessions_by_referral ON sessions (referral_id, scheduled_at);

CREATE TABLE session_reschedules (
    session_id TEXT NOT NULL,
    from_at BIGINT NOT NULL,
    to_at BIGINT NOT NULL,
    reason TEXT NOT NULL,
    actor_org TEXT NOT NULL,
    actor_person TEXT NOT NULL,
    changed_at BIGINT NOT NULL
);
CREATE INDEX session_reschedules_by_session ON session_reschedules (session_id, changed_at);

CREATE TABLE return_visits (
    referral_id TEXT NOT NULL,
    visited_at BIGINT NOT NULL,
    satisfaction INTEGER NOT NULL,
    method TEXT NOT NULL,
    note TEXT NOT NULL,
    actor_org TEXT NOT NULL,
    actor_person TEXT NOT NULL,
    recorded_at BIGINT NOT NULL
);
CREATE INDEX return_visits_by_referral ON return_visits (referral_id, visited_at);

CREATE TABLE file_documents (
    referral_id TEXT NOT NULL,
    kind INTEGER NOT NULL,
    title TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    media_type TEXT NOT NULL,
    added_at BIGINT NOT NULL
);
CREATE INDEX file_documents_by_referral ON file_documents (referral_id, added_at);

-- Supervision (DESIGN.md §3.5): alarms, warnings, leader ownership, notices,
-- and the facts each case contributes to the county's figures.

-- One row per alarm; (kind, subject_id) makes raising it idempotent across replicas.
CREATE TABLE alarms (
    alarm_id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    detail TEXT NOT NULL,
    raised_at BIGINT NOT NULL,
    cleared_at BIGINT,
    UNIQUE (kind, subject_id)
);
CREATE INDEX alarms_open ON alarms (cleared_at, raised_at);
CREATE INDEX alarms_case ON alarms (case_id);

-- Missing-clock alarms now live in `alarms` (kind CLOCK_MISSING, subject the referral).
INSERT INTO alarms (alarm_id, case_id, kind, subject_id, detail, raised_at)
    SELECT 'migrated-' || a.referral_id, COALESCE(r.case_id, ''), 'CLOCK_MISSING', a.referral_id,
           'a referral is worked on without its mediation clock', a.raised_at
    FROM missing_clock_alarms a LEFT JOIN referrals r ON r.referral_id = a.referral_id;
DROP TABLE missing_clock_alarms;

-- A clock warns once when it enters its last share (`warn_at`).
ALTER TABLE clocks ADD COLUMN warn_at BIGINT;
ALTER TABLE clocks ADD COLUMN warned INTEGER NOT NULL DEFAULT 0;
CREATE INDEX clocks_warn ON clocks (state, warn_at);

-- Leader ownership (领导包案), one owner per case.
CREATE TABLE case_owners (
    case_id TEXT PRIMARY KEY,
    leader_id TEXT NOT NULL,
    assigned_by_org TEXT NOT NULL,
    assigned_by_person TEXT NOT NULL,
    assigned_at BIGINT NOT NULL,
    acknowledged_at BIGINT,
    clock_id TEXT NOT NULL
);

-- Supervision notices (督办) with their response clocks.
CREATE TABLE supervision_notices (
    notice_id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    demand TEXT NOT NULL,
    issued_by_org TEXT NOT NULL,
    issued_by_person TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    clock_id TEXT NOT NULL,
    response TEXT NOT NULL DEFAULT '',
    responded_by_org TEXT NOT NULL DEFAULT '',
    responded_by_person TEXT NOT NULL DEFAULT '',
    responded_at BIGINT
);
CREATE INDEX supervision_notices_case ON supervision_notices (case_id, issued_at);

-- What each case contributes to the figures (docs/supervision.md).
CREATE TABLE case_figures (
    case_id TEXT PRIMARY KEY,
    registered_at BIGINT NOT NULL,
    township TEXT NOT NULL,
    source_agency TEXT NOT NULL,
    org_id TEXT NOT NULL DEFAULT '',
    org_level INTEGER NOT NULL DEFAULT 0,
    concluded_at BIGINT,
    outcome INTEGER NOT NULL DEFAULT 0,
    on_time INTEGER NOT NULL DEFAULT 0,
    refiled INTEGER NOT NULL DEFAULT 0,
    reflowed_at BIGINT
);
CREATE INDEX case_figures_registered ON case_figures (registered_at);
CREATE INDEX case_figures_concluded ON case_figures (concluded_at);
CREATE INDEX case_figures_reflowed ON case_figures (reflowed_at);

-- Agencies, which cases are whose, where each stands, and the log of status
-- changes that WatchStatus streams (seq is the cursor).
CREATE TABLE agencies (
    agency_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,              -- police, court, petition
    name TEXT NOT NULL,
    division_code TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE case_status (
    case_id TEXT PRIMARY KEY,
    agency_id TEXT NOT NULL,
    case_no TEXT NOT NULL,
    external_ref TEXT NOT NULL,
    referral_state INTEGER NOT NULL,
    org_id TEXT NOT NULL,
    outcome INTEGER NOT NULL,
    reason TEXT NOT NULL,
    returned INTEGER NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX case_status_agency ON case_status (agency_id, external_ref);

-- Sequence numbers are taken from status_seq inside the writing transaction,
-- so they are committed in order and a cursor never skips a late commit.
CREATE TABLE status_seq (id INTEGER PRIMARY KEY, last BIGINT NOT NULL);
INSERT INTO status_seq (id, last) VALUES (1, 0);

CREATE TABLE status_log (
    seq BIGINT PRIMARY KEY,
    agency_id TEXT NOT NULL,
    case_id TEXT NOT NULL,
    status BLOB NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX status_log_agency ON status_log (agency_id, seq);

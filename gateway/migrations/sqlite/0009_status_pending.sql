-- Status changes wait here until the sequencer moves them into status_log with
-- their number (see the PostgreSQL version).
CREATE TABLE status_pending (
    written INTEGER PRIMARY KEY AUTOINCREMENT,
    agency_id TEXT NOT NULL,
    case_id TEXT NOT NULL,
    status BLOB NOT NULL,
    created_at BIGINT NOT NULL
);

-- Status changes are written unnumbered and numbered afterwards by the
-- sequencer (see the PostgreSQL version); SQLite cannot change a primary key,
-- so the log is copied into a new table.
CREATE TABLE status_log_numbered (
    written INTEGER PRIMARY KEY AUTOINCREMENT,
    seq BIGINT,
    agency_id TEXT NOT NULL,
    case_id TEXT NOT NULL,
    status BLOB NOT NULL,
    created_at BIGINT NOT NULL
);
INSERT INTO status_log_numbered (written, seq, agency_id, case_id, status, created_at)
    SELECT seq, seq, agency_id, case_id, status, created_at FROM status_log ORDER BY seq;
DROP TABLE status_log;
ALTER TABLE status_log_numbered RENAME TO status_log;
CREATE UNIQUE INDEX status_log_seq ON status_log (seq);
CREATE INDEX status_log_agency ON status_log (agency_id, seq);
CREATE INDEX status_log_unnumbered ON status_log (written) WHERE seq IS NULL;

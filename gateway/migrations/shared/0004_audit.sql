-- The audit log: every call through the gateway, append-only and
-- hash-chained (hash = SHA-256 over the previous hash and the entry).
-- audit_head holds the last seq and hash (appenders serialise on it) and the
-- anchor: the hash of the last entry removed by retention, where
-- verification of what remains starts.
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    agency_id TEXT NOT NULL,
    method TEXT NOT NULL,
    case_id TEXT NOT NULL,
    code INTEGER NOT NULL,
    request_id TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_log_case ON audit_log (case_id, seq);
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    anchor_seq BIGINT NOT NULL,
    anchor_hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash, anchor_seq, anchor_hash) VALUES (1, 0, '', 0, '');

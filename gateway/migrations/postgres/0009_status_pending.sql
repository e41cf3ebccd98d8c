-- Status changes wait here, written in the projection's transaction, until the
-- sequencer moves them into status_log with their number: one insert into the
-- log each, where numbering them in place rewrote every row of the log and
-- three index entries with it (a third of the index writes of a referral).
CREATE TABLE status_pending (
    written BIGSERIAL PRIMARY KEY,
    agency_id TEXT NOT NULL,
    case_id TEXT NOT NULL,
    status BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

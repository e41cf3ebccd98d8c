-- Agency callbacks: one URL per agency that receives its status changes as
-- signed POSTs. delivered_seq is the status_log seq of the last change
-- delivered or dead-lettered; next_at holds back a failing callback until its
-- next attempt; lease_until keeps two gateway replicas from posting the same
-- batch at once.
CREATE TABLE callbacks (
    agency_id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    delivered_seq BIGINT NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    next_at BIGINT NOT NULL,
    lease_until BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Deliveries given up after every attempt failed: the changes after
-- after_seq up to last_seq, still readable with ListStatusChanges.
CREATE TABLE callback_dead_letters (
    agency_id TEXT NOT NULL,
    after_seq BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    url TEXT NOT NULL,
    last_error TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    dead_at BIGINT NOT NULL,
    PRIMARY KEY (agency_id, last_seq)
);

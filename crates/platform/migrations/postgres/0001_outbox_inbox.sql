-- The transactional outbox, the idempotent inbox and the dead-letter record of
-- one component. Instants are microseconds since the Unix epoch.
CREATE TABLE fq_outbox (
    id BIGSERIAL PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    source TEXT NOT NULL,
    case_id TEXT NOT NULL,
    payload BYTEA NOT NULL,
    traceparent TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX fq_outbox_unsent ON fq_outbox (id) WHERE sent_at IS NULL;

CREATE TABLE fq_inbox (
    consumer TEXT NOT NULL,
    event_id TEXT NOT NULL,
    processed_at BIGINT NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

CREATE TABLE fq_dead_letter (
    id BIGSERIAL PRIMARY KEY,
    consumer TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    source TEXT NOT NULL,
    case_id TEXT NOT NULL,
    event_time BIGINT NOT NULL,
    payload BYTEA NOT NULL,
    traceparent TEXT,
    attempts INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    replayed_at BIGINT,
    UNIQUE (consumer, event_id)
);

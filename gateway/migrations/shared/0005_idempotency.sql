-- Idempotency keys: the first answer to a mutating call, kept per agency and
-- key for agency_api.idempotency_hours. response is NULL while the first
-- call is still running.
CREATE TABLE idempotency_keys (
    agency_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    method TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    response BYTEA,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (agency_id, idempotency_key)
);
CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);

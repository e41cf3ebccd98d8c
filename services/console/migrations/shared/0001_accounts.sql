-- Staff accounts of the console, their sessions and what they did.
-- Instants are microseconds since the Unix epoch.
CREATE TABLE accounts (
    username TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    -- clerk, mediator, org_head, supervisor, leader, administrator
    role TEXT NOT NULL,
    -- The organisation a clerk, mediator or head works in; empty for the others.
    org_id TEXT NOT NULL,
    -- The division-code prefix a supervisor or leader oversees; empty for the others.
    jurisdiction TEXT NOT NULL,
    -- Argon2id in PHC form; empty for accounts that sign in through OpenID Connect only.
    password_hash TEXT NOT NULL,
    active INTEGER NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE sessions (
    -- SHA-256 of the cookie's token: a stolen table opens no session.
    token_sha256 TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    -- The token forms must carry (cross-site request forgery).
    csrf TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- Sliding: each request moves it on, up to absolute_expiry.
    expires_at BIGINT NOT NULL,
    absolute_expiry BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE console_audit (
    at BIGINT NOT NULL,
    username TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    outcome TEXT NOT NULL
);
CREATE INDEX console_audit_at ON console_audit (at);

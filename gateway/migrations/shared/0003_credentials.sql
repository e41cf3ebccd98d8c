-- The agency registry's credentials: token keys (Ed25519 public keys that
-- verify an agency's JWTs, `kid` = credential_id) and client certificates
-- (credential_id = SHA-256 of the certificate). Rotation: add the new one,
-- then revoke the old; a revoked or expired credential authenticates no call.
CREATE TABLE credentials (
    credential_id TEXT PRIMARY KEY,
    agency_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    public_key TEXT NOT NULL,
    not_after BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revoked_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX credentials_agency ON credentials (agency_id);
-- A disabled agency authenticates no call, whatever its credentials.
ALTER TABLE agencies ADD COLUMN disabled_at BIGINT;

-- Sign-ins begun at the province's identity platform (OpenID Connect), until
-- its callback: the nonce the ID token must carry and the PKCE verifier, keyed
-- by the SHA-256 of the state the browser carries. Used once; ten minutes.
CREATE TABLE oidc_pending (
    state_sha256 TEXT PRIMARY KEY,
    nonce TEXT NOT NULL,
    verifier TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX oidc_pending_created ON oidc_pending (created_at);

//! Sign-in through the province's identity platform: OpenID Connect's
//! authorisation code flow with PKCE. The provider proves who a member of
//! staff is (a signed ID token); the console's own account of the same name
//! says what they may do. The browser carries only the `state`, in a
//! short-lived cookie that binds the flow to it; the nonce and the PKCE
//! verifier wait in the console's database, used once, for ten minutes.

use std::time::{Duration, Instant};

use base64::Engine;
use fengqiao_platform::config::OidcSettings;
use fengqiao_platform::db::now_micros;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::ExposeSecret;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sqlx::{AnyPool, Row};
use tokio::sync::{Mutex, OnceCell};

use crate::sessions::{digest, random_token};

/// The cookie that carries a sign-in's `state` to the callback.
pub const STATE_COOKIE: &str = "fq_oidc_state";
/// How long a sign-in at the provider may take.
pub const PENDING_FOR: Duration = Duration::from_secs(600);
/// How often the provider's keys are fetched again at most, when a token names an unknown key.
const KEYS_REFRESH_AFTER: Duration = Duration::from_secs(60);
/// ID token signatures accepted: the provider's public keys only, never a shared secret.
const ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Why a sign-in through the provider failed; each says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider could not be reached or answered nonsense.
    #[error("the identity platform cannot be reached or answered unexpectedly ({0}); try again in a minute, or sign in with a console password")]
    Provider(String),
    /// The callback's state is unknown, used, expired or not this browser's.
    #[error("this sign-in was started elsewhere, took longer than ten minutes or was used already; start again")]
    Stale,
    /// The provider refused (the person cancelled, or the code was refused).
    #[error("the identity platform did not confirm the sign-in ({0}); start again")]
    Refused(String),
    /// The ID token did not check out.
    #[error(
        "the identity platform's answer did not check out ({0}); start again, and tell the administrator if it repeats"
    )]
    BadToken(String),
    /// The console's database failed.
    #[error("the console cannot reach its database; try again in a minute")]
    Database(#[from] sqlx::Error),
}

impl OidcError {
    /// The key of the console's words that tell a person what happened and what to do.
    pub fn word_key(&self) -> &'static str {
        match self {
            OidcError::Provider(_) | OidcError::Database(_) => "oidc_provider",
            OidcError::Stale => "oidc_stale",
            OidcError::Refused(_) => "oidc_refused",
            OidcError::BadToken(_) => "oidc_bad_token",
        }
    }

    /// The audit log's outcome (no personal data: the kind of failure only).
    pub fn outcome(&self) -> &'static str {
        match self {
            OidcError::Provider(_) | OidcError::Database(_) => "unavailable",
            OidcError::Stale => "stale",
            OidcError::Refused(_) => "refused",
            OidcError::BadToken(_) => "bad token",
        }
    }
}

/// The provider's endpoints, from its discovery document.
#[derive(Debug, Clone, Deserialize)]
struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

#[derive(Deserialize)]
struct TokenResponse {
    id_token: Option<String>,
    error: Option<String>,
}

/// The console as a client of one OpenID Connect provider.
pub struct Oidc {
    settings: OidcSettings,
    http: reqwest::Client,
    metadata: OnceCell<Metadata>,
    keys: Mutex<Option<(JwkSet, Instant)>>,
}

/// The start of a sign-in: where to send the browser, and the state for its cookie.
pub struct Begun {
    /// The provider's authorisation URL with this sign-in's parameters.
    pub location: String,
    /// The state, to keep in [`STATE_COOKIE`].
    pub state: String,
}

/// The PKCE challenge of `verifier` (S256).
fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn provider_error(e: impl std::fmt::Display) -> OidcError {
    OidcError::Provider(e.to_string())
}

impl Oidc {
    /// A client of the provider in `settings` (nothing is fetched until the first sign-in).
    pub fn new(settings: OidcSettings) -> Self {
        // The console may run alone (`fengqiao serve console`): choose TLS's cryptography here too.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("fengqiao-console/1")
            .build()
            .expect("a TLS provider is installed before the console starts");
        Self { settings, http, metadata: OnceCell::new(), keys: Mutex::new(None) }
    }

    /// The name the sign-in page gives the provider.
    pub fn provider_name(&self) -> &str {
        &self.settings.provider_name
    }

    async fn metadata(&self) -> Result<&Metadata, OidcError> {
        self.metadata
            .get_or_try_init(|| async {
                let url = format!("{}/.well-known/openid-configuration", self.settings.issuer.trim_end_matches('/'));
                let found: Metadata = self.get_json(&url).await?;
                if found.issuer.trim_end_matches('/') != self.settings.issuer.trim_end_matches('/') {
                    return Err(OidcError::Provider(format!(
                        "its discovery document names issuer {}, the settings {}",
                        found.issuer, self.settings.issuer
                    )));
                }
                Ok(found)
            })
            .await
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, OidcError> {
        let response = self.http.get(url).send().await.map_err(provider_error)?;
        if !response.status().is_success() {
            return Err(OidcError::Provider(format!("{url} answered {}", response.status())));
        }
        response.json().await.map_err(provider_error)
    }

    /// Starts a sign-in: records its nonce and PKCE verifier, and says where to send the browser.
    pub async fn begin(&self, db: &AnyPool) -> Result<Begun, OidcError> {
        let metadata = self.metadata().await?;
        let (state, nonce, verifier) = (random_token(), random_token(), random_token());
        sqlx::query("INSERT INTO oidc_pending (state_sha256, nonce, verifier, created_at) VALUES ($1, $2, $3, $4)")
            .bind(digest(&state))
            .bind(&nonce)
            .bind(&verifier)
            .bind(now_micros())
            .execute(db)
            .await?;
        let mut location = reqwest::Url::parse(&metadata.authorization_endpoint).map_err(provider_error)?;
        location
            .query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("redirect_uri", &self.settings.redirect_url)
            .append_pair("scope", "openid profile")
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge(&verifier))
            .append_pair("code_challenge_method", "S256");
        Ok(Begun { location: location.into(), state })
    }

    /// Finishes a sign-in from the provider's callback: checks the state
    /// against this browser's cookie, trades the code for an ID token, checks
    /// the token, and returns the console username it names.
    pub async fn finish(
        &self,
        db: &AnyPool,
        state: &str,
        cookie_state: Option<&str>,
        code: &str,
    ) -> Result<String, OidcError> {
        if state.is_empty() || cookie_state != Some(state) {
            return Err(OidcError::Stale);
        }
        let row = sqlx::query("DELETE FROM oidc_pending WHERE state_sha256 = $1 RETURNING nonce, verifier, created_at")
            .bind(digest(state))
            .fetch_optional(db)
            .await?;
        let Some(row) = row else { return Err(OidcError::Stale) };
        let created_at: i64 = row.try_get("created_at")?;
        if now_micros() - created_at > PENDING_FOR.as_micros() as i64 {
            return Err(OidcError::Stale);
        }
        let (nonce, verifier): (String, String) = (row.try_get("nonce")?, row.try_get("verifier")?);
        let id_token = self.trade(code, &verifier).await?;
        self.username_in(&id_token, &nonce).await
    }

    /// Trades the authorisation code for an ID token at the token endpoint.
    async fn trade(&self, code: &str, verifier: &str) -> Result<String, OidcError> {
        let metadata = self.metadata().await?;
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", code)
            .append_pair("redirect_uri", &self.settings.redirect_url)
            .append_pair("code_verifier", verifier)
            .append_pair("client_id", &self.settings.client_id)
            .finish();
        let mut request = self
            .http
            .post(&metadata.token_endpoint)
            .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(http::header::ACCEPT, "application/json")
            .body(body);
        let secret = self.settings.client_secret.expose_secret();
        if !secret.is_empty() {
            request = request.basic_auth(
                form_urlencoded::byte_serialize(self.settings.client_id.as_bytes()).collect::<String>(),
                Some(form_urlencoded::byte_serialize(secret.as_bytes()).collect::<String>()),
            );
        }
        let response = request.send().await.map_err(provider_error)?;
        let status = response.status();
        let answer: TokenResponse = response
            .json()
            .await
            .map_err(|_| OidcError::Provider(format!("the token endpoint answered {status} without JSON")))?;
        match (answer.id_token, answer.error) {
            (Some(token), None) if status.is_success() => Ok(token),
            (_, Some(error)) => Err(OidcError::Refused(error)),
            _ => Err(OidcError::Provider(format!("the token endpoint answered {status} without an id_token"))),
        }
    }

    /// Checks `id_token` (signature by the provider's key, issuer, audience,
    /// expiry, nonce) and returns its username claim.
    async fn username_in(&self, id_token: &str, nonce: &str) -> Result<String, OidcError> {
        let bad = |why: &str| OidcError::BadToken(why.to_string());
        let header = jsonwebtoken::decode_header(id_token).map_err(|_| bad("the ID token is malformed"))?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(bad("the ID token is not signed with a public-key algorithm"));
        }
        let key = self.key(header.kid.as_deref()).await?;
        let metadata = self.metadata().await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&metadata.issuer]);
        validation.set_audience(&[&self.settings.client_id]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 60;
        let claims = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(id_token, &key, &validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                bad(match e.kind() {
                    ErrorKind::ExpiredSignature => "the ID token has expired (is this machine's clock right?)",
                    ErrorKind::InvalidIssuer => "the ID token is from another issuer",
                    ErrorKind::InvalidAudience => "the ID token is for another client",
                    ErrorKind::InvalidSignature => "the ID token's signature does not match the provider's key",
                    _ => "the ID token does not validate",
                })
            })?
            .claims;
        if claims.get("nonce").and_then(|n| n.as_str()) != Some(nonce) {
            return Err(bad("the ID token's nonce is not this sign-in's"));
        }
        claims
            .get(&self.settings.username_claim)
            .and_then(|u| u.as_str())
            .filter(|u| !u.is_empty())
            .map(str::to_string)
            .ok_or_else(|| OidcError::BadToken(format!("the ID token has no {} claim", self.settings.username_claim)))
    }

    /// The provider's key `kid` (its only key when the token names none),
    /// fetching the key set again when the key is unknown (a rotation), at
    /// most once a minute.
    async fn key(&self, kid: Option<&str>) -> Result<DecodingKey, OidcError> {
        let mut keys = self.keys.lock().await;
        let pick = |set: &JwkSet| match kid {
            Some(kid) => set.find(kid).cloned(),
            None if set.keys.len() == 1 => set.keys.first().cloned(),
            None => None,
        };
        let stale = keys.as_ref().is_none_or(|(set, at)| pick(set).is_none() && at.elapsed() > KEYS_REFRESH_AFTER);
        if stale {
            let metadata = self.metadata().await?;
            *keys = Some((self.get_json::<JwkSet>(&metadata.jwks_uri).await?, Instant::now()));
        }
        let jwk = keys.as_ref().and_then(|(set, _)| pick(set)).ok_or_else(|| {
            OidcError::BadToken("the ID token is signed with a key the provider does not publish".into())
        })?;
        DecodingKey::from_jwk(&jwk)
            .map_err(|_| OidcError::BadToken("the provider publishes a key of an unknown kind".into()))
    }
}

/// Removes sign-ins that were begun and never finished.
pub async fn forget_abandoned(db: &AnyPool) -> Result<u64, sqlx::Error> {
    let before = now_micros() - PENDING_FOR.as_micros() as i64;
    Ok(sqlx::query("DELETE FROM oidc_pending WHERE created_at < $1").bind(before).execute(db).await?.rows_affected())
}

/// The `Set-Cookie` value that carries a sign-in's state to the callback:
/// `SameSite=Lax`, since the provider sends the browser back from another site.
pub fn state_cookie(state: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{STATE_COOKIE}={state}; Path=/login/oidc; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        PENDING_FOR.as_secs()
    )
}

/// The `Set-Cookie` value that removes the state cookie.
pub fn cleared_state_cookie() -> String {
    format!("{STATE_COOKIE}=; Path=/login/oidc; HttpOnly; SameSite=Lax; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pkce_challenge_is_rfc_7636s_example() {
        // RFC 7636, appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn the_state_cookie_reaches_the_callback_only_and_survives_the_trip_to_the_provider() {
        let set = state_cookie("abc", true);
        for part in ["fq_oidc_state=abc", "Path=/login/oidc", "HttpOnly", "SameSite=Lax", "Max-Age=600", "Secure"] {
            assert!(set.contains(part), "{set}");
        }
        assert!(cleared_state_cookie().contains("Max-Age=0"));
    }
}

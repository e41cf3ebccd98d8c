//! Signed tokens: EdDSA (Ed25519) JWTs. The header's `kid` names the
//! agency's credential whose public key verifies it; `sub` is the agency,
//! `aud` is `fengqiao`, and `exp` is required.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The audience every token must name.
pub const AUDIENCE: &str = "fengqiao";

/// A token's claims.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The agency id.
    pub sub: String,
    /// Always `fengqiao`.
    pub aud: String,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expires at (seconds since the epoch).
    pub exp: i64,
}

/// Why a token was refused (said to the caller, so it knows what to fix).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// Not three base64 parts, or not EdDSA.
    #[error("the token is not an EdDSA JWT")]
    Malformed,
    /// No `kid` in the header.
    #[error("the token's header names no key (kid)")]
    NoKey,
    /// The signature, audience, subject or expiry does not hold.
    #[error("the token does not verify: {0}")]
    Invalid(String),
}

/// The key id a token's header names.
pub fn key_id(token: &str) -> Result<String, TokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
    if header.alg != Algorithm::EdDSA {
        return Err(TokenError::Malformed);
    }
    header.kid.filter(|k| !k.is_empty()).ok_or(TokenError::NoKey)
}

/// A token for `claims`, signed with the PKCS#8 PEM Ed25519 key `private_pem` under key id `kid`.
pub fn sign(claims: &Claims, kid: &str, private_pem: &str) -> anyhow::Result<String> {
    let header = Header { kid: Some(kid.to_string()), ..Header::new(Algorithm::EdDSA) };
    let key = EncodingKey::from_ed_pem(private_pem.as_bytes())?;
    Ok(jsonwebtoken::encode(&header, claims, &key)?)
}

/// Seconds of clock skew allowed past a token's `exp`.
const LEEWAY: u64 = 30;

/// Tokens verified in this process (see [`super::verified`]).
static VERIFIED: std::sync::LazyLock<super::verified::Verified> = std::sync::LazyLock::new(Default::default);

/// The claims of `token` if it verifies under `public_pem` for `agency_id`;
/// a token that verified before under the same key for the same agency, and
/// has not expired since, is not verified again.
pub fn verify(token: &str, public_pem: &str, agency_id: &str) -> Result<Claims, TokenError> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let key = super::verified::digest(token, public_pem, agency_id);
    if let Some(claims) = VERIFIED.get(&key, now, LEEWAY as i64) {
        return Ok(claims);
    }
    let claims = verify_signature(token, public_pem, agency_id)?;
    VERIFIED.put(key, claims.clone(), now, LEEWAY as i64);
    Ok(claims)
}

/// [`verify`] without the memory of earlier verifications.
fn verify_signature(token: &str, public_pem: &str, agency_id: &str) -> Result<Claims, TokenError> {
    let key = DecodingKey::from_ed_pem(public_pem.as_bytes()).map_err(|e| TokenError::Invalid(e.to_string()))?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "sub", "aud"]);
    validation.sub = Some(agency_id.to_string());
    validation.leeway = LEEWAY;
    jsonwebtoken::decode::<Claims>(token, &key, &validation).map(|d| d.claims).map_err(|e| {
        TokenError::Invalid(match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => "it has expired; sign a new one".to_string(),
            jsonwebtoken::errors::ErrorKind::InvalidAudience => format!("its aud must be {AUDIENCE}"),
            jsonwebtoken::errors::ErrorKind::InvalidSubject => "its sub is not the key's agency".to_string(),
            jsonwebtoken::errors::ErrorKind::InvalidSignature => "the signature does not match the key".to_string(),
            other => format!("{other:?}"),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> (String, String) {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        (pair.serialize_pem(), pair.public_key_pem())
    }

    fn claims(sub: &str, exp_in: i64) -> Claims {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        Claims { sub: sub.into(), aud: AUDIENCE.into(), iat: now, exp: now + exp_in }
    }

    #[test]
    fn a_token_verifies_under_its_key_for_its_agency_only() {
        let (private, public) = keys();
        let token = sign(&claims("court-620802", 600), "k1", &private).unwrap();
        assert_eq!(key_id(&token).unwrap(), "k1");
        assert_eq!(verify(&token, &public, "court-620802").unwrap().sub, "court-620802");
        assert!(matches!(verify(&token, &public, "court-620803"), Err(TokenError::Invalid(_))));
        let (_, other_public) = keys();
        assert!(matches!(verify(&token, &other_public, "court-620802"), Err(TokenError::Invalid(_))));
    }

    #[test]
    fn an_expired_or_tampered_token_is_refused() {
        let (private, public) = keys();
        let expired = sign(&claims("court-620802", -3600), "k1", &private).unwrap();
        assert_eq!(
            verify(&expired, &public, "court-620802"),
            Err(TokenError::Invalid("it has expired; sign a new one".into()))
        );
        let token = sign(&claims("court-620802", 600), "k1", &private).unwrap();
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged_claims = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            serde_json::to_vec(&claims("court-620802", 999_999)).unwrap(),
        );
        parts[1] = &forged_claims;
        assert!(verify(&parts.join("."), &public, "court-620802").is_err());
        assert_eq!(key_id("not-a-token"), Err(TokenError::Malformed));
    }
}

//! Development tokens: `fq-dev.<agency id>.<HMAC-SHA-256 signature>`, signed
//! with `auth.dev_token_secret`. Mutual TLS and signed JWTs for production
//! arrive with issue #11.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use fengqiao_platform::Settings;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

const PREFIX: &str = "fq-dev";

fn mac(secret: &SecretString, agency_id: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes()).expect("HMAC takes any key length");
    mac.update(PREFIX.as_bytes());
    mac.update(b".");
    mac.update(agency_id.as_bytes());
    mac
}

/// A development token for `agency_id`.
pub fn issue(secret: &SecretString, agency_id: &str) -> String {
    let signature = URL_SAFE_NO_PAD.encode(mac(secret, agency_id).finalize().into_bytes());
    format!("{PREFIX}.{agency_id}.{signature}")
}

/// The agency a token names, if its signature holds (checked in constant time).
pub fn verify(secret: &SecretString, token: &str) -> Option<String> {
    let rest = token.strip_prefix(PREFIX)?.strip_prefix('.')?;
    let (agency_id, signature) = rest.rsplit_once('.')?;
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    mac(secret, agency_id).verify_slice(&signature).ok()?;
    Some(agency_id.to_string())
}

/// The signing key: from configuration, or in standalone mode the one kept
/// in `<data_dir>/dev-token-secret`.
pub fn secret(settings: &Settings) -> anyhow::Result<SecretString> {
    fengqiao_platform::secrets::resolve(
        settings,
        &settings.auth.dev_token_secret,
        "dev-token-secret",
        "auth.dev_token_secret",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> SecretString {
        SecretString::from(k.to_string())
    }

    #[test]
    fn a_token_names_its_agency_only_under_its_own_key() {
        let token = issue(&key("a".repeat(32).as_str()), "police-620802-dongguan");
        assert_eq!(verify(&key("a".repeat(32).as_str()), &token).as_deref(), Some("police-620802-dongguan"));
        assert_eq!(verify(&key("b".repeat(32).as_str()), &token), None);
    }

    #[test]
    fn a_tampered_token_is_refused() {
        let k = key(&"k".repeat(32));
        let token = issue(&k, "court-620802");
        let forged = token.replace("court-620802", "court-620803");
        assert_eq!(verify(&k, &forged), None);
        assert_eq!(verify(&k, "court-620802"), None);
        assert_eq!(verify(&k, ""), None);
    }
}

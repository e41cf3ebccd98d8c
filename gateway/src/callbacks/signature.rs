//! The signature on a callback: `v1=` and the hex HMAC-SHA-256, keyed with the
//! agency's secret (its text, as given), of `<timestamp>.<body>`, where the
//! timestamp is the `Fengqiao-Timestamp` header (Unix seconds). A receiver
//! recomputes it, compares in constant time, and refuses old timestamps.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "fengqiao-signature";
/// The header carrying the signing time (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "fengqiao-timestamp";
/// The header naming one delivery: the cursor its changes come after, the
/// same on each retry (a retry may carry more changes that arrived meanwhile).
pub const DELIVERY_HEADER: &str = "fengqiao-delivery";

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `Fengqiao-Signature` value of `body` sent at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("v1={}", hex::encode(mac(secret, timestamp, body).finalize().into_bytes()))
}

/// What a receiver does: true if `signature` is `body`'s at `timestamp` and
/// `timestamp` is within `tolerance_secs` of `now` (older ones may be replays).
pub fn verify(secret: &str, timestamp: i64, body: &[u8], signature: &str, now: i64, tolerance_secs: i64) -> bool {
    if (now - timestamp).abs() > tolerance_secs {
        return false;
    }
    let Some(given) = signature.strip_prefix("v1=").and_then(|h| hex::decode(h).ok()) else {
        return false;
    };
    mac(secret, timestamp, body).verify_slice(&given).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_holds_only_for_its_body_secret_and_time() {
        let sig = sign("s3cret", 1_700_000_000, b"{\"changes\":[]}");
        assert!(sig.starts_with("v1=") && sig.len() == 3 + 64, "{sig}");
        assert!(verify("s3cret", 1_700_000_000, b"{\"changes\":[]}", &sig, 1_700_000_010, 300));
        assert!(!verify("s3cret", 1_700_000_000, b"{\"changes\":[1]}", &sig, 1_700_000_010, 300));
        assert!(!verify("other", 1_700_000_000, b"{\"changes\":[]}", &sig, 1_700_000_010, 300));
        assert!(!verify("s3cret", 1_700_000_001, b"{\"changes\":[]}", &sig, 1_700_000_010, 300));
        // A replay of a genuine delivery after the tolerance is refused.
        assert!(!verify("s3cret", 1_700_000_000, b"{\"changes\":[]}", &sig, 1_700_000_301, 300));
        assert!(!verify("s3cret", 1_700_000_000, b"{\"changes\":[]}", "v1=zz", 1_700_000_010, 300));
    }

    #[test]
    fn the_signature_matches_a_value_computed_by_hand() {
        // python3 -c 'import hmac,hashlib;print(hmac.new(b"key",b"1.body",hashlib.sha256).hexdigest())'
        assert_eq!(sign("key", 1, b"body"), format!("v1={}", KNOWN));
    }

    const KNOWN: &str = "91b5374b153842ad05b2c4eab9349b8321b14703165bd3fb8b034dfb8be98ae5";
}

//! Tokens whose signature has verified, remembered until they expire, so an
//! agency's client sending the same token on every call costs one Ed25519
//! verification per token rather than one per call (about 3 % of standalone's
//! CPU at 800 submissions/s). The credential itself is looked up on every
//! call, or kept only while every change to it is heard of (`known`), so a
//! revoked key or a disabled agency is refused at once.

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::token::Claims;

/// The most tokens remembered; when full, the expired ones are dropped, and
/// if none has expired, all (each is verified again once).
const CAPACITY: usize = 4_096;

/// Verified tokens by the digest of (public key, agency, token).
#[derive(Default)]
pub struct Verified {
    entries: Mutex<HashMap<[u8; 32], Claims>>,
}

/// Which token, under which key, for which agency: all three, so a hit is
/// the same verification that succeeded before.
pub fn digest(token: &str, public_pem: &str, agency_id: &str) -> [u8; 32] {
    let mut hash = Sha256::new();
    for part in [public_pem, agency_id, token] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    hash.finalize().into()
}

impl Verified {
    /// The claims remembered under `key` if they have not expired at `now`
    /// (seconds since the epoch, with the verifier's `leeway`).
    pub fn get(&self, key: &[u8; 32], now: i64, leeway: i64) -> Option<Claims> {
        let entries = self.entries.lock().expect("verified tokens lock");
        entries.get(key).filter(|c| c.exp >= now - leeway).cloned()
    }

    /// Remembers `claims` as verified under `key`.
    pub fn put(&self, key: [u8; 32], claims: Claims, now: i64, leeway: i64) {
        let mut entries = self.entries.lock().expect("verified tokens lock");
        if entries.len() >= CAPACITY {
            entries.retain(|_, c| c.exp >= now - leeway);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(key, claims);
    }

    /// How many tokens are remembered.
    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.entries.lock().expect("verified tokens lock").len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims { sub: "court-620802".into(), aud: "fengqiao".into(), iat: 0, exp }
    }

    #[test]
    fn a_remembered_token_is_not_returned_after_it_expires() {
        let verified = Verified::default();
        let key = digest("t", "pem", "court-620802");
        verified.put(key, claims(1_000), 900, 30);
        assert_eq!(verified.get(&key, 1_030, 30), Some(claims(1_000)));
        assert_eq!(verified.get(&key, 1_031, 30), None);
    }

    #[test]
    fn the_digest_binds_the_token_to_its_key_and_agency() {
        let base = digest("token", "pem", "court-620802");
        assert_ne!(base, digest("token", "pem", "court-620803"));
        assert_ne!(base, digest("token", "other-pem", "court-620802"));
        assert_ne!(base, digest("token2", "pem", "court-620802"));
        // Lengths are hashed too, so parts cannot slide into each other.
        assert_ne!(digest("ab", "pem", "c"), digest("b", "pem", "ca"));
    }

    #[test]
    fn a_full_cache_drops_expired_tokens_first_then_all() {
        let verified = Verified::default();
        for i in 0..CAPACITY as u64 {
            let exp = if i % 2 == 0 { 100 } else { 10_000 };
            verified.put(digest(&i.to_string(), "pem", "a"), claims(exp), 0, 0);
        }
        assert_eq!(verified.remembered(), CAPACITY);
        verified.put(digest("new", "pem", "a"), claims(10_000), 5_000, 0);
        assert_eq!(verified.remembered(), CAPACITY / 2 + 1);
        assert!(verified.get(&digest("1", "pem", "a"), 5_000, 0).is_some());
        for i in 0..CAPACITY as u64 {
            verified.put(digest(&format!("more-{i}"), "pem", "a"), claims(10_000), 5_000, 0);
        }
        assert!(verified.remembered() <= CAPACITY);
    }
}

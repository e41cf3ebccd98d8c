//! Verification codes: what a case's parties quote to look it up, made from
//! the case id under the gateway's key (HMAC-SHA-256), so that every replica,
//! and every call about the case, gives a case the same code.

use fengqiao_platform::Database;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use sqlx::Row;

/// The characters of a verification code: no 0/O or 1/I, easy to read out.
pub(crate) const ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
/// Characters in a code (40 bits).
pub(crate) const CODE_LEN: usize = 8;

/// The gateway's key for verification codes (`code_key`), the same in every replica.
#[derive(Clone)]
pub struct CodeKey(std::sync::Arc<str>);

impl CodeKey {
    /// The key kept in `db`, made by whichever gateway asks first.
    pub async fn load(db: &Database) -> Result<Self, sqlx::Error> {
        let fresh: [u8; 32] = rand::random();
        sqlx::query("INSERT INTO code_key (id, key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING")
            .bind(hex::encode(fresh))
            .execute(db.writer())
            .await?;
        let row = sqlx::query("SELECT key FROM code_key WHERE id = 1").fetch_one(db.writer()).await?;
        Ok(Self(row.try_get::<String, _>("key")?.into()))
    }

    /// A key of its own, for tests.
    #[cfg(test)]
    pub(crate) fn of(key: &str) -> Self {
        Self(key.into())
    }

    /// The code of `case_id`: its HMAC's first eight bytes, five bits each (32 characters).
    pub fn code_for(&self, case_id: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.0.as_bytes()).expect("HMAC takes a key of any length");
        mac.update(case_id.as_bytes());
        let digest = mac.finalize().into_bytes();
        digest[..CODE_LEN].iter().map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char).collect()
    }
}

#[cfg(test)]
mod tests {
    use fengqiao_platform::db::Backend;

    use super::*;

    #[test]
    fn a_code_is_eight_unambiguous_characters_the_same_for_its_case_and_key_only() {
        let key = CodeKey::of("k1");
        let code = key.code_for("case-a");
        assert_eq!(code.len(), CODE_LEN);
        assert!(code.bytes().all(|b| ALPHABET.contains(&b)), "{code}");
        assert_eq!(code, key.code_for("case-a"), "the same case, the same code");
        assert_ne!(code, key.code_for("case-b"), "another case, another code");
        assert_ne!(code, CodeKey::of("k2").code_for("case-a"), "another key, another code");
    }

    /// Two replicas starting on one database share the key the first made.
    async fn replicas_share_the_key_the_first_made(backend: Backend) {
        let t = crate::test_database(backend).await;
        let first = CodeKey::load(&t.db).await.unwrap();
        let second = CodeKey::load(&t.db).await.unwrap();
        assert_eq!(first.0.len(), 64, "32 random bytes in hex");
        assert_eq!(first.code_for("case-a"), second.code_for("case-a"));
        t.finish().await;
    }

    #[tokio::test]
    async fn on_sqlite_replicas_share_the_key_the_first_made() {
        replicas_share_the_key_the_first_made(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn on_postgres_replicas_share_the_key_the_first_made() {
        replicas_share_the_key_the_first_made(Backend::Postgres).await;
    }
}

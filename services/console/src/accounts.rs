//! Staff accounts: who may sign in, in which role, over which organisation or
//! jurisdiction. Passwords are kept as Argon2id hashes (PHC strings) only.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use fengqiao_platform::db::now_micros;
use sqlx::{AnyPool, Row};

/// What a member of staff may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Registers disputes at the counter (登记员).
    Clerk,
    /// Works the referrals of their organisation (调解员).
    Mediator,
    /// Heads an organisation: its inbox, assignments (调委会主任).
    OrgHead,
    /// Oversees a jurisdiction's cases, alarms and figures (督办).
    Supervisor,
    /// A leader who owns RED cases and reads figures (包案领导).
    Leader,
    /// Administers accounts and the directory.
    Administrator,
}

impl Role {
    /// Every role with its stored name.
    pub const ALL: [(Role, &'static str); 6] = [
        (Role::Clerk, "clerk"),
        (Role::Mediator, "mediator"),
        (Role::OrgHead, "org_head"),
        (Role::Supervisor, "supervisor"),
        (Role::Leader, "leader"),
        (Role::Administrator, "administrator"),
    ];

    /// The stored name.
    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(r, _)| *r == self).map(|(_, n)| *n).expect("every role is named")
    }

    /// The role of a stored name.
    pub fn parse(name: &str) -> Option<Role> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(r, _)| *r)
    }

    /// Whether the role works inside one organisation (and needs its id).
    pub fn works_in_org(self) -> bool {
        matches!(self, Role::Clerk | Role::Mediator | Role::OrgHead)
    }

    /// Whether the role registers disputes at the counter.
    pub fn registers(self) -> bool {
        matches!(self, Role::Clerk | Role::Mediator | Role::OrgHead)
    }

    /// Whether the role moves referrals of its organisation.
    pub fn mediates(self) -> bool {
        matches!(self, Role::Mediator | Role::OrgHead)
    }
}

/// A signed-in member of staff.
#[derive(Debug, Clone)]
pub struct Staff {
    /// The sign-in name, which the audit log and the mediation record carry.
    pub username: String,
    /// The name shown.
    pub display_name: String,
    /// The role.
    pub role: Role,
    /// The organisation, for roles that work in one.
    pub org_id: String,
    /// The division-code prefix overseen, for supervisors and leaders.
    pub jurisdiction: String,
}

/// Hashes a password with Argon2id and a fresh salt.
pub fn hash(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let hashed = Argon2::default().hash_password(password.as_bytes(), &salt).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(hashed.to_string())
}

/// Whether `password` matches the stored hash (constant time; false for an empty or malformed hash).
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A new random password: 20 characters a person can type without ambiguity.
pub fn generate_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..20).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

/// What is wrong with an account's details, if anything.
pub fn problem(username: &str, role: Role, org_id: &str, jurisdiction: &str) -> Option<String> {
    let name_ok = (3..=64).contains(&username.len())
        && username.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'));
    if !name_ok {
        return Some("the username must be 3 to 64 letters, digits or - _ . @".into());
    }
    if role.works_in_org() && org_id.is_empty() {
        return Some(format!("a {} works in an organisation: give its id with --org", role.name()));
    }
    if matches!(role, Role::Supervisor | Role::Leader)
        && !(jurisdiction.is_empty() || jurisdiction.bytes().all(|b| b.is_ascii_digit()))
    {
        return Some("the jurisdiction is a division-code prefix such as 620802 (empty for the whole county)".into());
    }
    None
}

/// Creates an account (or replaces one of the same name) with `password`;
/// without one, the account signs in through the identity platform only.
pub async fn put(pool: &AnyPool, staff: &Staff, password: Option<&str>) -> anyhow::Result<()> {
    if let Some(why) = problem(&staff.username, staff.role, &staff.org_id, &staff.jurisdiction) {
        anyhow::bail!(why);
    }
    let hashed = password.map(hash).transpose()?.unwrap_or_default();
    sqlx::query(
        "INSERT INTO accounts (username, display_name, role, org_id, jurisdiction, password_hash, active, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, 1, $7)
         ON CONFLICT (username) DO UPDATE SET display_name = excluded.display_name, role = excluded.role,
             org_id = excluded.org_id, jurisdiction = excluded.jurisdiction, password_hash = excluded.password_hash,
             active = 1",
    )
    .bind(&staff.username)
    .bind(&staff.display_name)
    .bind(staff.role.name())
    .bind(&staff.org_id)
    .bind(&staff.jurisdiction)
    .bind(hashed)
    .bind(now_micros())
    .execute(pool)
    .await?;
    Ok(())
}

/// The active account `username`, with its password hash.
pub async fn find(pool: &AnyPool, username: &str) -> Result<Option<(Staff, String)>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT username, display_name, role, org_id, jurisdiction, password_hash FROM accounts
         WHERE username = $1 AND active = 1",
    )
    .bind(username)
    .fetch_optional(pool)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let role: String = r.try_get("role")?;
    let Some(role) = Role::parse(&role) else { return Ok(None) };
    let staff = Staff {
        username: r.try_get("username")?,
        display_name: r.try_get("display_name")?,
        role,
        org_id: r.try_get("org_id")?,
        jurisdiction: r.try_get("jurisdiction")?,
    };
    Ok(Some((staff, r.try_get("password_hash")?)))
}

/// Disables `username`: it can no longer sign in, and its sessions end now.
pub async fn disable(pool: &AnyPool, username: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE accounts SET active = 0 WHERE username = $1").bind(username).execute(pool).await?;
    sqlx::query("DELETE FROM sessions WHERE username = $1").bind(username).execute(pool).await?;
    Ok(())
}

/// How many accounts exist.
pub async fn count(pool: &AnyPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM accounts").fetch_one(pool).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_hash_only() {
        let stored = hash("correct horse").unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(verify("correct horse", &stored));
        assert!(!verify("correct horsE", &stored));
        assert!(!verify("correct horse", ""), "an account without a password cannot sign in with one");
    }

    #[test]
    fn account_details_are_checked() {
        assert!(problem("li.mediator", Role::Mediator, "org-1", "").is_none());
        assert!(problem("li", Role::Mediator, "org-1", "").unwrap().contains("3 to 64"));
        assert!(problem("li.mediator", Role::Mediator, "", "").unwrap().contains("--org"));
        assert!(problem("wang", Role::Supervisor, "", "62x").unwrap().contains("prefix"));
        assert_eq!(generate_password().len(), 20);
    }
}

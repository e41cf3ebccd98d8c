//! Who is calling: every call is tied to one registered agency, by its
//! client certificate (mutual TLS; the agency named in a URI SAN, the
//! certificate registered by fingerprint) or by an EdDSA JWT verified with
//! one of the agency's registered keys. Revoked or expired credentials and
//! disabled agencies authenticate nothing.

pub mod certificate;
pub mod known;
pub mod store;
pub mod token;
pub mod verified;

use fengqiao_platform::db::now_micros;
use fengqiao_platform::front::PeerCertificates;
use fengqiao_platform::status;
use fengqiao_platform::Database;
use tonic::Status;

use crate::store::Agency;
use known::Known;

fn refused(why: impl std::fmt::Display) -> Status {
    Status::unauthenticated(format!("{why}; ask the operator for a valid credential (docs/agency-guide.md)"))
}

/// The agency a call comes from: its client certificate if it sent one,
/// else its `authorization: Bearer <JWT>`.
pub async fn authenticate(
    db: &Database,
    known: &Known,
    metadata: &tonic::metadata::MetadataMap,
    extensions: &http::Extensions,
) -> Result<Agency, Status> {
    let now = now_micros();
    if let Some(PeerCertificates(chain)) = extensions.get::<PeerCertificates>() {
        let leaf = chain.first().ok_or_else(|| refused("the client certificate chain is empty"))?;
        let named = certificate::agency_of(leaf).ok_or_else(|| {
            refused(format!("the client certificate names no agency as {}<id>", certificate::SPIFFE_PREFIX))
        })?;
        let id = certificate::fingerprint(leaf);
        let (credential, agency, disabled) =
            find(db, known, &id).await?.ok_or_else(|| refused("the client certificate is not registered"))?;
        return usable(credential, agency, disabled, now, Some(&named));
    }
    let header = metadata
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| refused("send a client certificate or `authorization: Bearer <token>`"))?;
    let jwt = header.strip_prefix("Bearer ").unwrap_or(header).trim();
    let kid = token::key_id(jwt).map_err(refused)?;
    let (credential, agency, disabled) = find(db, known, &kid)
        .await?
        .filter(|(c, _, _)| c.kind == "token-key")
        .ok_or_else(|| refused("the token's key (kid) is not registered"))?;
    token::verify(jwt, &credential.public_key, &agency.agency_id).map_err(refused)?;
    usable(credential, agency, disabled, now, None)
}

/// The credential `id` with its agency: as kept if this gateway hears of every
/// change ([`Known`]), else looked up (and kept if it may be).
pub(crate) async fn find(db: &Database, known: &Known, id: &str) -> Result<Option<known::Found>, Status> {
    if let Some(found) = known.get(id) {
        return Ok(Some(found));
    }
    let ticket = known.ticket();
    let mut conn = db.pool().acquire().await.map_err(status::database)?;
    let found = store::lookup(&mut conn, id).await.map_err(status::database)?;
    if let Some(found) = &found {
        known.keep(ticket, id, found);
    }
    Ok(found)
}

fn usable(
    credential: store::Credential,
    agency: Agency,
    disabled: bool,
    now: i64,
    named: Option<&str>,
) -> Result<Agency, Status> {
    if named.is_some_and(|n| n != agency.agency_id) {
        return Err(refused("the client certificate is registered to another agency"));
    }
    if credential.revoked_at.is_some() {
        return Err(refused(format!("credential {} was revoked", short(&credential.credential_id))));
    }
    if credential.not_after < now {
        return Err(refused(format!("credential {} has expired", short(&credential.credential_id))));
    }
    if disabled {
        return Err(refused("the agency is disabled"));
    }
    Ok(agency)
}

fn short(id: &str) -> &str {
    &id[..id.len().min(16)]
}

/// A new token key for `agency_id`, registered, and a token signed with it
/// valid for `days` (the private key is not kept: the token is the credential;
/// revoke it by its key id).
pub async fn issue_token(db: &Database, agency_id: &str, days: i64) -> anyhow::Result<(String, String)> {
    let mut conn = db.writer().acquire().await?;
    let agency = crate::store::agency(&mut conn, agency_id).await?;
    anyhow::ensure!(agency.is_some(), "no agency {agency_id} is registered; see `fengqiao agencies list`");
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)?;
    let kid = format!("tk-{}", uuid::Uuid::now_v7().simple());
    let now = time::OffsetDateTime::now_utc();
    let exp = now + time::Duration::days(days);
    let claims = token::Claims {
        sub: agency_id.to_string(),
        aud: token::AUDIENCE.to_string(),
        iat: now.unix_timestamp(),
        exp: exp.unix_timestamp(),
    };
    let jwt = token::sign(&claims, &kid, &pair.serialize_pem())?;
    let not_after = exp.unix_timestamp() * 1_000_000;
    store::add(&mut conn, &kid, agency_id, store::Kind::TokenKey, &pair.public_key_pem(), not_after, now_micros())
        .await?;
    Ok((kid, jwt))
}

/// Registers an agency's own Ed25519 public key (PEM) for `days`: the
/// agency signs its tokens itself, with `kid` set to the returned id.
pub async fn register_key(db: &Database, agency_id: &str, public_pem: &str, days: i64) -> anyhow::Result<String> {
    jsonwebtoken::DecodingKey::from_ed_pem(public_pem.as_bytes())
        .map_err(|e| anyhow::anyhow!("not an Ed25519 public key in PEM: {e}"))?;
    let mut conn = db.writer().acquire().await?;
    anyhow::ensure!(crate::store::agency(&mut conn, agency_id).await?.is_some(), "no agency {agency_id} is registered");
    let kid = format!("tk-{}", uuid::Uuid::now_v7().simple());
    let not_after = now_micros() + days * 86_400 * 1_000_000;
    store::add(&mut conn, &kid, agency_id, store::Kind::TokenKey, public_pem.trim(), not_after, now_micros()).await?;
    Ok(kid)
}

/// Registers a client certificate (DER) for the agency its SAN names; returns its fingerprint.
pub async fn register_certificate(db: &Database, der: &[u8]) -> anyhow::Result<(String, String)> {
    let agency_id = certificate::agency_of(der)
        .ok_or_else(|| anyhow::anyhow!("the certificate names no agency as {}<id>", certificate::SPIFFE_PREFIX))?;
    let not_after = certificate::not_after(der).ok_or_else(|| anyhow::anyhow!("the certificate does not parse"))?;
    let mut conn = db.writer().acquire().await?;
    anyhow::ensure!(
        crate::store::agency(&mut conn, &agency_id).await?.is_some(),
        "no agency {agency_id} is registered"
    );
    let id = certificate::fingerprint(der);
    store::add(&mut conn, &id, &agency_id, store::Kind::Certificate, "", not_after * 1_000_000, now_micros()).await?;
    Ok((id, agency_id))
}

//! Mediators in the directory: who mediates for which organisation, in what,
//! and whether they take new cases.

use fengqiao_platform::status::Violation;
use fengqiao_proto::fengqiao::common::v1::Category;
use fengqiao_proto::fengqiao::routing::v1::Mediator;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// Every problem with a mediator, by field.
pub fn validate(m: &Mediator) -> Vec<Violation> {
    let mut v = Vec::new();
    let id_ok = (1..=64).contains(&m.mediator_id.len())
        && m.mediator_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !id_ok {
        v.push(Violation::new("mediator.mediator_id", "must be 1 to 64 letters, digits, '-' or '_'"));
    }
    if m.org_id.trim().is_empty() {
        v.push(Violation::new("mediator.org_id", "is required: the organisation they mediate for"));
    }
    if m.name.trim().is_empty() || m.name.chars().count() > 50 {
        v.push(Violation::new("mediator.name", "is required, at most 50 characters"));
    }
    for (i, c) in m.specialties.iter().enumerate() {
        if Category::from_str_name(&format!("CATEGORY_{c}")).is_none() || c == "UNSPECIFIED" {
            v.push(Violation::new(
                format!("mediator.specialties[{i}]"),
                "must be a Category name such as MARRIAGE_FAMILY",
            ));
        }
    }
    v
}

fn from_row(r: &AnyRow) -> Result<Mediator, sqlx::Error> {
    let specialties: String = r.try_get("specialties")?;
    Ok(Mediator {
        mediator_id: r.try_get("mediator_id")?,
        org_id: r.try_get("org_id")?,
        name: r.try_get("name")?,
        specialties: specialties.split('|').filter(|c| !c.is_empty()).map(str::to_string).collect(),
        available: r.try_get::<i32, _>("available")? != 0,
    })
}

/// One mediator.
pub async fn find(conn: &mut AnyConnection, mediator_id: &str) -> Result<Option<Mediator>, sqlx::Error> {
    sqlx::query("SELECT mediator_id, org_id, name, specialties, available FROM mediators WHERE mediator_id = $1")
        .bind(mediator_id)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Adds or replaces a mediator.
pub async fn upsert(conn: &mut AnyConnection, m: &Mediator) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO mediators (mediator_id, org_id, name, specialties, available) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (mediator_id) DO UPDATE SET org_id = excluded.org_id, name = excluded.name,
             specialties = excluded.specialties, available = excluded.available",
    )
    .bind(&m.mediator_id)
    .bind(&m.org_id)
    .bind(m.name.trim())
    .bind(m.specialties.join("|"))
    .bind(i32::from(m.available))
    .execute(conn)
    .await?;
    Ok(())
}

/// An organisation's mediators, by id.
pub async fn of_org(conn: &mut AnyConnection, org_id: &str) -> Result<Vec<Mediator>, sqlx::Error> {
    sqlx::query("SELECT mediator_id, org_id, name, specialties, available FROM mediators WHERE org_id = $1 ORDER BY mediator_id")
        .bind(org_id)
        .fetch_all(conn)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

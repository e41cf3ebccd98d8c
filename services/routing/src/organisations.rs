//! The directory API: validated organisations in, pages of them out.

use fengqiao_platform::status::Violation;
use fengqiao_proto::fengqiao::common::v1::Category;
use fengqiao_proto::fengqiao::routing::v1::Organisation;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// Kinds that serve one agency and so must name it.
const AGENCY_KINDS: [&str; 3] = ["POLICE_MEDIATION_OFFICE", "COURT_MEDIATION_OFFICE", "PETITION_COMMITTEE"];

/// Every problem with an organisation, by field.
pub fn validate(o: &Organisation) -> Vec<Violation> {
    let mut v = Vec::new();
    let id_ok = (1..=64).contains(&o.org_id.len())
        && o.org_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !id_ok {
        v.push(Violation::new("organisation.org_id", "must be 1 to 64 letters, digits, '-' or '_'"));
    }
    if o.name.trim().is_empty() || o.name.chars().count() > 100 {
        v.push(Violation::new("organisation.name", "is required, at most 100 characters"));
    }
    if !fengqiao_domain::org::KINDS.contains(&o.kind.as_str()) {
        v.push(Violation::new(
            "organisation.kind",
            format!("must be one of {}", fengqiao_domain::org::KINDS.join(", ")),
        ));
    }
    let expected_len = match o.level {
        1 => Some(12),
        2 => Some(9),
        3 => Some(6),
        _ => None,
    };
    match expected_len {
        None => v.push(Violation::new("organisation.level", "must be 1 (village), 2 (township) or 3 (county)")),
        Some(len) if o.division_code.len() != len => v.push(Violation::new(
            "organisation.division_code",
            format!("must have {len} digits for an organisation of level {}", o.level),
        )),
        Some(_) if !fengqiao_regions::divisions().is_known(&o.division_code) => v.push(Violation::new(
            "organisation.division_code",
            "is not a division of the National Bureau of Statistics 2023 codes",
        )),
        Some(_) => {}
    }
    if !(1..=100_000).contains(&o.capacity) {
        v.push(Violation::new("organisation.capacity", "must be between 1 and 100000 open referrals"));
    }
    for (i, c) in o.categories.iter().enumerate() {
        if Category::from_str_name(&format!("CATEGORY_{c}")).is_none() || c == "UNSPECIFIED" {
            v.push(Violation::new(
                format!("organisation.categories[{i}]"),
                "must be a Category name such as TRAFFIC_ACCIDENT",
            ));
        }
    }
    if o.contact.chars().count() > 200 {
        v.push(Violation::new("organisation.contact", "must be at most 200 characters"));
    }
    if AGENCY_KINDS.contains(&o.kind.as_str()) && o.agency_id.trim().is_empty() {
        v.push(Violation::new("organisation.agency_id", "is required for an office that serves one agency"));
    }
    v
}

fn from_row(r: &AnyRow) -> Result<Organisation, sqlx::Error> {
    let categories: String = r.try_get("categories")?;
    Ok(Organisation {
        org_id: r.try_get("org_id")?,
        name: r.try_get("name")?,
        kind: r.try_get("kind")?,
        level: r.try_get("level")?,
        division_code: r.try_get("division_code")?,
        capacity: r.try_get("capacity")?,
        categories: categories.split('|').filter(|c| !c.is_empty()).map(str::to_string).collect(),
        agency_id: r.try_get("agency_id")?,
        open_referrals: r.try_get("open")?,
        contact: r.try_get("contact")?,
    })
}

/// The columns of an organisation with its load, `FROM organisations o`.
fn select() -> String {
    format!(
        "SELECT o.org_id, o.name, o.kind, o.level, o.division_code, o.capacity, o.categories, o.agency_id, o.contact,
         {} AS open
         FROM organisations o",
        crate::load::OPEN
    )
}

/// One organisation.
pub async fn find(conn: &mut AnyConnection, org_id: &str) -> Result<Option<Organisation>, sqlx::Error> {
    let sql = format!("{} WHERE o.org_id = $1", select());
    sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org_id).fetch_optional(conn).await?.as_ref().map(from_row).transpose()
}

/// Adds or replaces; true when it was new.
pub async fn upsert(conn: &mut AnyConnection, o: &Organisation) -> Result<bool, sqlx::Error> {
    let existed = find(&mut *conn, &o.org_id).await?.is_some();
    sqlx::query(
        "INSERT INTO organisations (org_id, name, kind, level, division_code, capacity, categories, agency_id, contact)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (org_id) DO UPDATE SET name = excluded.name, kind = excluded.kind, level = excluded.level,
             division_code = excluded.division_code, capacity = excluded.capacity,
             categories = excluded.categories, agency_id = excluded.agency_id, contact = excluded.contact",
    )
    .bind(&o.org_id)
    .bind(o.name.trim())
    .bind(&o.kind)
    .bind(o.level)
    .bind(&o.division_code)
    .bind(o.capacity)
    .bind(o.categories.join("|"))
    .bind(o.agency_id.trim())
    .bind(o.contact.trim())
    .execute(conn)
    .await?;
    Ok(!existed)
}

/// A page of the directory after `after` (an org id), by id.
pub async fn list(
    conn: &mut AnyConnection,
    division_prefix: &str,
    kind: &str,
    after: &str,
    limit: i64,
) -> Result<Vec<Organisation>, sqlx::Error> {
    let sql = format!(
        "{} WHERE o.org_id > $1 AND o.division_code LIKE $2 || '%' AND ($3 = '' OR o.kind = $3)
         ORDER BY o.org_id LIMIT $4",
        select()
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(after)
        .bind(division_prefix)
        .bind(kind)
        .bind(limit)
        .fetch_all(conn)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Organisation {
        Organisation {
            org_id: "village-620802001001".into(),
            name: "解放中路社区人民调解委员会".into(),
            kind: "VILLAGE_COMMITTEE".into(),
            level: 1,
            division_code: "620802001001".into(),
            capacity: 30,
            ..Default::default()
        }
    }

    #[test]
    fn a_good_organisation_passes_and_each_bad_field_is_named() {
        assert!(validate(&good()).is_empty());
        let bad = Organisation {
            org_id: "bad id!".into(),
            name: " ".into(),
            kind: "TEMPLE".into(),
            level: 2,
            division_code: "620802001001".into(),
            capacity: 0,
            categories: vec!["WEATHER".into()],
            ..Default::default()
        };
        let fields: Vec<String> = validate(&bad).into_iter().map(|v| v.field).collect();
        assert_eq!(
            fields,
            [
                "organisation.org_id",
                "organisation.name",
                "organisation.kind",
                "organisation.division_code",
                "organisation.capacity",
                "organisation.categories[0]"
            ]
        );
        let office =
            Organisation { kind: "COURT_MEDIATION_OFFICE".into(), level: 3, division_code: "620802".into(), ..good() };
        assert_eq!(validate(&office)[0].field, "organisation.agency_id");
        let unknown = Organisation { division_code: "620802001999".into(), ..good() };
        assert!(validate(&unknown)[0].description.contains("2023"));
    }
}

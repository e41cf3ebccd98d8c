//! The organisation directory: the demo data of Kongtong district and the
//! organisations whose area covers a place, with their load.

use sqlx::{AnyConnection, Row};

/// The demo directory of Kongtong district (620802), generated from the NBS
/// 2023 division codes by scripts/gen-demo-directory.py.
const DEMO: &str = include_str!("../seed/demo-620802.csv");

/// An organisation that covers a place, with its open referrals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Org {
    /// Its id.
    pub org_id: String,
    /// Its name.
    pub name: String,
    /// Its kind (see `fengqiao_domain::org::KINDS`).
    pub kind: String,
    /// 1 village, 2 township, 3 county.
    pub level: i32,
    /// How many open referrals it can hold.
    pub capacity: i64,
    /// The categories it takes ('|'-separated), for industry committees.
    pub categories: String,
    /// The agency it serves, for offices of a station, court or bureau.
    pub agency_id: String,
    /// Referrals it holds that are not finished.
    pub open: i64,
    /// The division its area is: every place whose code starts with it.
    pub division_code: String,
}

impl Org {
    /// True when it holds as many open referrals as it can.
    pub fn full(&self) -> bool {
        self.open >= self.capacity
    }

    /// True when its area contains the place `division_code`.
    pub fn covers(&self, division_code: &str) -> bool {
        division_code.starts_with(&self.division_code)
    }

    /// True when it takes disputes of `category`.
    pub fn takes(&self, category: &str) -> bool {
        self.categories.split('|').any(|c| c == category)
    }
}

/// Loads the demo directory unless the directory already has organisations.
/// Returns how many were added.
pub async fn seed_demo(conn: &mut AnyConnection) -> Result<usize, sqlx::Error> {
    let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM organisations").fetch_one(&mut *conn).await?;
    if existing > 0 {
        return Ok(0);
    }
    let mut added = 0;
    for line in DEMO.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let [org_id, name, kind, level, division, capacity, categories, agency] = f.as_slice() else { continue };
        added += sqlx::query(
            "INSERT INTO organisations (org_id, name, kind, level, division_code, capacity, categories, agency_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (org_id) DO NOTHING",
        )
        .bind(*org_id)
        .bind(*name)
        .bind(*kind)
        .bind(level.parse::<i32>().unwrap_or(3))
        .bind(*division)
        .bind(capacity.parse::<i32>().unwrap_or(100))
        .bind(*categories)
        .bind(*agency)
        .execute(&mut *conn)
        .await?
        .rows_affected() as usize;
    }
    // The demo village's mediator and head, named as the console's demo accounts
    // (a mediator's id is their sign-in name), so the head can assign them.
    for (id, name) in [("village-mediator", "东关村调解员"), ("village-head", "东关村调委会主任")] {
        let mediator = fengqiao_proto::fengqiao::routing::v1::Mediator {
            mediator_id: id.into(),
            org_id: "village-620802001001".into(),
            name: name.into(),
            specialties: vec!["NEIGHBOURHOOD".into()],
            available: true,
        };
        crate::mediators::upsert(conn, &mediator).await?;
    }
    Ok(added)
}

/// Every organisation whose area contains `division_code`, with its load.
pub async fn covering(conn: &mut AnyConnection, division_code: &str) -> Result<Vec<Org>, sqlx::Error> {
    covering_any(conn, &[division_code]).await
}

/// Every organisation whose area contains any of `division_codes`, with its
/// load, by level then id: [`Org::covers`] tells which places it covers.
pub async fn covering_any(conn: &mut AnyConnection, division_codes: &[&str]) -> Result<Vec<Org>, sqlx::Error> {
    // An area contains a place when its code is a prefix of the place's code.
    let mut prefixes: Vec<&str> =
        division_codes.iter().flat_map(|code| code.char_indices().map(|(i, _)| &code[..i]).chain([*code])).collect();
    prefixes.sort_unstable();
    prefixes.dedup();
    let mut orgs = Vec::new();
    for chunk in prefixes.chunks(fengqiao_platform::db::ROWS_PER_STATEMENT) {
        let sql = format!(
            "SELECT o.org_id, o.name, o.kind, o.level, o.capacity, o.categories, o.agency_id, o.division_code,
                    {} AS open
             FROM organisations o
             WHERE o.division_code IN ({})",
            crate::load::OPEN,
            fengqiao_platform::db::placeholders(1, chunk.len())
        );
        let query = fengqiao_platform::db::bind_padded(sqlx::query(sqlx::AssertSqlSafe(sql)), chunk);
        for r in query.fetch_all(&mut *conn).await? {
            orgs.push(Org {
                org_id: r.try_get("org_id")?,
                name: r.try_get("name")?,
                kind: r.try_get("kind")?,
                level: r.try_get("level")?,
                capacity: i64::from(r.try_get::<i32, _>("capacity")?),
                categories: r.try_get("categories")?,
                agency_id: r.try_get("agency_id")?,
                open: r.try_get("open")?,
                division_code: r.try_get("division_code")?,
            });
        }
    }
    orgs.sort_by(|a, b| (a.level, &a.org_id).cmp(&(b.level, &b.org_id)));
    Ok(orgs)
}

/// The level's name for explanations.
pub fn level_name(level: i32) -> &'static str {
    match level {
        1 => "village",
        2 => "township",
        _ => "county",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_demo_directory_has_a_centre_townships_villages_and_specialised_organisations() {
        let rows: Vec<Vec<&str>> = super::DEMO.lines().skip(1).map(|l| l.split(',').collect()).collect();
        assert!(rows.iter().all(|r| r.len() == 8), "eight columns, no commas in names");
        let count = |kind: &str| rows.iter().filter(|r| r[2] == kind).count();
        assert_eq!(count("COUNTY_CENTRE"), 1);
        assert_eq!(count("TOWNSHIP_COMMITTEE"), 21);
        assert_eq!(count("VILLAGE_COMMITTEE"), 277);
        assert_eq!(count("INDUSTRY_COMMITTEE"), 4);
        assert_eq!(count("COURT_MEDIATION_OFFICE") + count("PETITION_COMMITTEE") + count("POLICE_MEDIATION_OFFICE"), 3);
    }
}

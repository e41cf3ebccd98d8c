//! The organisation directory and the choice of an organisation: the lowest
//! level covering the dispute's place (village → township → county).

use sqlx::{AnyConnection, Row};

/// The demo directory of Kongtong district (620802), generated from the NBS
/// 2023 division codes by scripts/gen-demo-directory.py.
const DEMO: &str = include_str!("../seed/demo-620802.csv");

/// An organisation chosen for a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// The organisation.
    pub org_id: String,
    /// Its name.
    pub name: String,
    /// Its level: 1 village, 2 township, 3 county.
    pub level: i32,
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
        let [org_id, name, kind, level, division] = f.as_slice() else {
            continue;
        };
        added += sqlx::query(
            "INSERT INTO organisations (org_id, name, kind, level, division_code) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (org_id) DO NOTHING",
        )
        .bind(*org_id)
        .bind(*name)
        .bind(*kind)
        .bind(level.parse::<i32>().unwrap_or(3))
        .bind(*division)
        .execute(&mut *conn)
        .await?
        .rows_affected() as usize;
    }
    Ok(added)
}

/// The lowest-level organisation above `above_level` whose area is the
/// dispute's village, township or county.
pub async fn choose(
    conn: &mut AnyConnection,
    division_code: &str,
    above_level: i32,
    refused_kinds: &[String],
) -> Result<Option<Choice>, sqlx::Error> {
    let village = division_code;
    let township = &division_code[..division_code.len().min(9)];
    let county = &division_code[..division_code.len().min(6)];
    // Kinds a party refused to share their data with are never chosen.
    let refused: Vec<String> = (0..refused_kinds.len()).map(|i| format!("${}", i + 5)).collect();
    let not_refused =
        if refused.is_empty() { String::new() } else { format!(" AND kind NOT IN ({})", refused.join(", ")) };
    let sql = format!(
        "SELECT org_id, name, level FROM organisations
         WHERE division_code IN ($1, $2, $3) AND level > $4{not_refused}
         ORDER BY level, org_id LIMIT 1"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(village).bind(township).bind(county).bind(above_level);
    for kind in refused_kinds {
        q = q.bind(kind);
    }
    let row = q.fetch_optional(conn).await?;
    row.map(|r| Ok(Choice { org_id: r.try_get("org_id")?, name: r.try_get("name")?, level: r.try_get("level")? }))
        .transpose()
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
    fn the_demo_directory_has_a_centre_townships_and_villages() {
        let rows: Vec<Vec<&str>> = super::DEMO.lines().skip(1).map(|l| l.split(',').collect()).collect();
        assert!(rows.iter().all(|r| r.len() == 5), "five columns, no commas in names");
        let count = |level: &str| rows.iter().filter(|r| r[3] == level).count();
        assert_eq!(count("3"), 1);
        assert_eq!(count("2"), 21);
        assert_eq!(count("1"), 277);
    }
}

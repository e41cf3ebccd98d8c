//! Links between cases: found at registration through the parties' keyed
//! hashes, walked as a family by the lineage query.

use fengqiao_proto::fengqiao::intake::v1::CaseLink;
use sqlx::{AnyConnection, AssertSqlSafe, Row};

/// An earlier case of the same party.
#[derive(Debug, Clone)]
pub struct Earlier {
    /// Its id.
    pub case_id: String,
    /// Its number.
    pub case_no: String,
    /// Its source (enum number).
    pub source: i32,
    /// True when it shares the place; otherwise it shares the kind of dispute.
    pub same_place: bool,
}

fn placeholders(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// Cases registered since `since` with a party whose hash is in `hashes`,
/// in the same place or of the same category, oldest first.
pub async fn find_related(
    conn: &mut AnyConnection,
    hashes: &[String],
    since: i64,
    division_code: &str,
    category: i32,
) -> Result<Vec<Earlier>, sqlx::Error> {
    if hashes.is_empty() {
        return Ok(Vec::new());
    }
    let list = placeholders(4, hashes.len());
    let sql = format!(
        "SELECT DISTINCT c.case_id, c.case_no, c.source, c.division_code, c.registered_at
         FROM parties p JOIN cases c ON c.case_id = p.case_id
         WHERE (p.resident_id_hash IN ({list}) OR p.name_phone_hash IN ({list}))
           AND c.registered_at >= $1 AND (c.division_code = $2 OR c.category = $3)
         ORDER BY c.registered_at LIMIT 20"
    );
    let mut q = sqlx::query(AssertSqlSafe(sql)).bind(since).bind(division_code).bind(category);
    for h in hashes {
        q = q.bind(h);
    }
    q.fetch_all(conn)
        .await?
        .iter()
        .map(|r| {
            Ok(Earlier {
                case_id: r.try_get("case_id")?,
                case_no: r.try_get("case_no")?,
                source: r.try_get("source")?,
                same_place: r.try_get::<String, _>("division_code")? == division_code,
            })
        })
        .collect()
}

/// Records a link.
pub async fn insert(conn: &mut AnyConnection, link: &CaseLink, at: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO case_links (case_id, related_case_id, kind, reason, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (case_id, related_case_id) DO NOTHING",
    )
    .bind(&link.case_id)
    .bind(&link.related_case_id)
    .bind(link.kind)
    .bind(&link.reason)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Every link touching any of `case_ids`.
pub async fn among(conn: &mut AnyConnection, case_ids: &[String]) -> Result<Vec<CaseLink>, sqlx::Error> {
    if case_ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = placeholders(1, case_ids.len());
    let sql = format!(
        "SELECT case_id, related_case_id, kind, reason FROM case_links
         WHERE case_id IN ({list}) OR related_case_id IN ({list}) ORDER BY created_at, case_id"
    );
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for id in case_ids {
        q = q.bind(id);
    }
    q.fetch_all(conn)
        .await?
        .iter()
        .map(|r| {
            Ok(CaseLink {
                case_id: r.try_get("case_id")?,
                related_case_id: r.try_get("related_case_id")?,
                kind: r.try_get("kind")?,
                reason: r.try_get("reason")?,
            })
        })
        .collect()
}

/// Every case connected to `case_id` through links, in either direction.
pub async fn family(conn: &mut AnyConnection, case_id: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "WITH RECURSIVE family(id) AS (
             SELECT CAST($1 AS TEXT)
             UNION
             SELECT CASE WHEN l.case_id = f.id THEN l.related_case_id ELSE l.case_id END
             FROM case_links l JOIN family f ON l.case_id = f.id OR l.related_case_id = f.id
         )
         SELECT id FROM family",
    )
    .bind(case_id)
    .fetch_all(conn)
    .await
}

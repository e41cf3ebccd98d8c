//! Links between cases: found at registration through the parties' keyed
//! hashes, walked as a family by the lineage query.

use fengqiao_platform::db::{values_from, ROWS_PER_STATEMENT};
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

/// The most earlier cases a new case is linked to: the oldest.
const RELATED_AT_MOST: i64 = 20;

/// What one new case looks for: cases registered since `since` with a party
/// whose hash is in `hashes`, in the same place or of the same category.
pub struct Wanted<'a> {
    /// Its parties' keyed hashes.
    pub hashes: &'a [String],
    /// The window's start (µs since the epoch).
    pub since: i64,
    /// Its place.
    pub division_code: &'a str,
    /// Its kind of dispute (enum number).
    pub category: i32,
}

/// The earlier cases each of `wanted` finds, oldest first, at most
/// [`RELATED_AT_MOST`] each: one statement for a run of registrations (up to
/// [`ROWS_PER_STATEMENT`] hashes) rather than one a registration.
pub async fn find_related_all(
    conn: &mut AnyConnection,
    wanted: &[Wanted<'_>],
) -> Result<Vec<Vec<Earlier>>, sqlx::Error> {
    let mut found: Vec<Vec<Earlier>> = wanted.iter().map(|_| Vec::new()).collect();
    let mut next = 0;
    while next < wanted.len() {
        // Whole cases to a statement: the oldest of each is chosen in it.
        let (mut end, mut hashes) = (next, 0);
        while end < wanted.len() && (end == next || hashes + wanted[end].hashes.len() <= ROWS_PER_STATEMENT) {
            hashes += wanted[end].hashes.len();
            end += 1;
        }
        let looking: Vec<usize> = (next..end).filter(|&k| !wanted[k].hashes.is_empty()).collect();
        next = end;
        if looking.is_empty() {
            continue;
        }
        for (k, earlier) in find_related_of(conn, wanted, &looking, hashes).await? {
            found[k].push(earlier);
        }
    }
    Ok(found)
}

/// The earlier cases of `wanted[k]` for each `k` of `looking` (`hashes` hashes in all), as `(k, case)`.
async fn find_related_of(
    conn: &mut AnyConnection,
    wanted: &[Wanted<'_>],
    looking: &[usize],
    hashes: usize,
) -> Result<Vec<(usize, Earlier)>, sqlx::Error> {
    let sql = format!(
        "WITH wanted(k, since, division_code, category) AS (VALUES {cases}),
         hashes(k, hash) AS (VALUES {hashes}),
         matched AS (
             SELECT h.k, p.case_id FROM hashes h JOIN parties p ON p.resident_id_hash = h.hash
             UNION
             SELECT h.k, p.case_id FROM hashes h JOIN parties p ON p.name_phone_hash = h.hash
         )
         SELECT k, case_id, case_no, source, division_code FROM (
             SELECT w.k, c.case_id, c.case_no, c.source, c.division_code, c.registered_at,
                    ROW_NUMBER() OVER (PARTITION BY w.k ORDER BY c.registered_at, c.case_id) AS nth
             FROM matched m JOIN wanted w ON w.k = m.k JOIN cases c ON c.case_id = m.case_id
             WHERE c.registered_at >= w.since AND (c.division_code = w.division_code OR c.category = w.category)
         ) ranked
         WHERE nth <= {RELATED_AT_MOST}
         ORDER BY k, registered_at, case_id",
        cases = values_from(conn, 1, looking.len(), 4),
        hashes = values_from(conn, 1 + 4 * looking.len(), hashes, 2),
    );
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for &k in looking {
        let w = &wanted[k];
        q = q.bind(k as i64).bind(w.since).bind(w.division_code).bind(w.category);
    }
    for &k in looking {
        for hash in wanted[k].hashes {
            q = q.bind(k as i64).bind(hash);
        }
    }
    q.fetch_all(conn)
        .await?
        .iter()
        .map(|r| {
            let k = r.try_get::<i64, _>("k")? as usize;
            let earlier = Earlier {
                case_id: r.try_get("case_id")?,
                case_no: r.try_get("case_no")?,
                source: r.try_get("source")?,
                same_place: r.try_get::<String, _>("division_code")? == wanted[k].division_code,
            };
            Ok((k, earlier))
        })
        .collect()
}

/// Records a run's links, each with the time its case was registered, in one
/// statement for every [`ROWS_PER_STATEMENT`](fengqiao_platform::db::ROWS_PER_STATEMENT)
/// (a registration's batch waits on its transaction: one round trip a link held it
/// for as many as its returning parties had earlier cases).
pub async fn insert_all(conn: &mut AnyConnection, links: &[(&CaseLink, i64)]) -> Result<(), sqlx::Error> {
    for chunk in links.chunks(fengqiao_platform::db::ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO case_links (case_id, related_case_id, kind, reason, created_at) VALUES {}
             ON CONFLICT (case_id, related_case_id) DO NOTHING",
            fengqiao_platform::db::values(conn, chunk.len(), 5)
        );
        let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (link, at) in chunk {
            insert =
                insert.bind(&link.case_id).bind(&link.related_case_id).bind(link.kind).bind(&link.reason).bind(*at);
        }
        insert.execute(&mut *conn).await?;
    }
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

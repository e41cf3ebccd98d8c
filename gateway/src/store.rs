//! The gateway's tables: agencies, case ownership and status, the status log.

use fengqiao_proto::fengqiao::gateway::v1::CaseStatus;
use prost::Message;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

pub(crate) mod owners;
pub use owners::{record_owned, Own};

/// An agency system allowed through the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agency {
    /// Its id (the token's subject).
    pub agency_id: String,
    /// `police`, `court` or `petition`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// The division it serves: its jurisdiction (e.g. `620802`).
    pub division_code: String,
}

/// The demo agencies of Kongtong district.
const DEMO_AGENCIES: [(&str, &str, &str, &str); 5] = [
    ("police-620802-dongguan", "police", "平凉市公安局崆峒分局东关派出所", "620802001"),
    ("police-620802-xijiao", "police", "平凉市公安局崆峒分局西郊派出所", "620802003"),
    ("court-620802", "court", "平凉市崆峒区人民法院", "620802"),
    ("petition-620802", "petition", "平凉市崆峒区信访局", "620802"),
    ("centre-620802", "centre", "平凉市崆峒区矛盾纠纷多元化解中心", "620802"),
];

/// Adds the demo agencies that are missing; returns how many.
pub async fn seed_demo_agencies(conn: &mut AnyConnection, at: i64) -> Result<u64, sqlx::Error> {
    let mut added = 0;
    for (id, kind, name, division) in DEMO_AGENCIES {
        added += sqlx::query(
            "INSERT INTO agencies (agency_id, kind, name, division_code, created_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (agency_id) DO NOTHING",
        )
        .bind(id)
        .bind(kind)
        .bind(name)
        .bind(division)
        .bind(at)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    Ok(added)
}

/// An agency by id.
pub async fn agency(conn: &mut AnyConnection, agency_id: &str) -> Result<Option<Agency>, sqlx::Error> {
    let row = sqlx::query("SELECT agency_id, kind, name, division_code FROM agencies WHERE agency_id = $1")
        .bind(agency_id)
        .fetch_optional(conn)
        .await?;
    row.map(|r| agency_from(&r, "kind")).transpose()
}

/// An agency from a row holding its columns (its kind in `kind_column`).
pub(crate) fn agency_from(r: &AnyRow, kind_column: &str) -> Result<Agency, sqlx::Error> {
    Ok(Agency {
        agency_id: r.try_get("agency_id")?,
        kind: r.try_get(kind_column)?,
        name: r.try_get("name")?,
        division_code: r.try_get("division_code")?,
    })
}

fn status_from(r: &AnyRow) -> Result<CaseStatus, sqlx::Error> {
    Ok(CaseStatus {
        case_id: r.try_get("case_id")?,
        case_no: r.try_get("case_no")?,
        external_ref: r.try_get("external_ref")?,
        referral_state: r.try_get::<i32, _>("referral_state")?,
        org_id: r.try_get("org_id")?,
        outcome: r.try_get::<i32, _>("outcome")?,
        reason: r.try_get("reason")?,
        returned_to_sender: r.try_get::<i32, _>("returned")? != 0,
        updated_at: Some(fengqiao_platform::db::timestamp(r.try_get("updated_at")?)),
    })
}

/// Records in the status view that agencies own cases, `(agency, first status,
/// when)` each, in order, one statement per
/// [`ROWS_PER_STATEMENT`](fengqiao_platform::db::ROWS_PER_STATEMENT); returns
/// what is stored for each. The status projection's, in its transaction: a case
/// already recorded keeps its owner; a later registration only fills in a case
/// number the first did not know.
pub async fn record_all(
    conn: &mut AnyConnection,
    owners: &[(&str, &CaseStatus, i64)],
) -> Result<Vec<Stored>, sqlx::Error> {
    let mut seen = std::collections::HashSet::with_capacity(owners.len());
    if !owners.iter().all(|(_, s, _)| seen.insert(s.case_id.as_str())) {
        // The same case twice (a registration delivered again): an upsert may not touch a row
        // twice in one statement on PostgreSQL, so these go one by one.
        let mut stored = Vec::with_capacity(owners.len());
        for owner in owners {
            stored.extend(Box::pin(record_all(conn, std::slice::from_ref(owner))).await?);
        }
        return Ok(stored);
    }
    let mut stored = Vec::with_capacity(owners.len());
    for chunk in owners.chunks(fengqiao_platform::db::ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO case_status (case_id, agency_id, case_no, external_ref, referral_state, org_id, outcome,
                 reason, returned, updated_at)
             VALUES {}
             ON CONFLICT (case_id) DO UPDATE SET
                 case_no = CASE WHEN case_status.case_no = '' THEN excluded.case_no ELSE case_status.case_no END
             RETURNING {STORED_COLUMNS}",
            fengqiao_platform::db::values(conn, chunk.len(), 10)
        );
        let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (agency_id, s, at) in chunk {
            // No referral yet: state, organisation, outcome, reason and returned empty.
            insert = insert
                .bind(&s.case_id)
                .bind(*agency_id)
                .bind(&s.case_no)
                .bind(&s.external_ref)
                .bind(0_i32)
                .bind("")
                .bind(0_i32)
                .bind("")
                .bind(0_i32)
                .bind(*at);
        }
        let rows = insert.fetch_all(&mut *conn).await?;
        stored.extend(in_order(chunk.iter().map(|(_, s, _)| s.case_id.as_str()), &rows)?);
    }
    Ok(stored)
}

/// The stored rows `rows` (from a RETURNING, which promises no order) put back
/// in the order of `cases`, one for each (a case may come twice).
pub(crate) fn in_order<'a>(cases: impl Iterator<Item = &'a str>, rows: &[AnyRow]) -> Result<Vec<Stored>, sqlx::Error> {
    let mut by_case = std::collections::HashMap::with_capacity(rows.len());
    for row in rows {
        let one = stored_from(row)?;
        by_case.insert(one.status.case_id.clone(), one);
    }
    cases.map(|case| by_case.get(case).cloned().ok_or(sqlx::Error::RowNotFound)).collect()
}

/// A case's status as stored, with who owns it and its parties' verification code.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The agency that sent it.
    pub owner: String,
    pub status: CaseStatus,
    /// What its parties quote to look it up (empty for cases from before codes existed).
    pub verification_code: String,
    /// The referral the status follows (empty before the first).
    pub referral_id: String,
}

/// A `case_status` row's columns, for the projection (its verification code
/// is that of a case recorded before `case_owners` existed, copied there).
const STORED_COLUMNS: &str = "agency_id, verification_code, referral_id, \
     case_id, case_no, external_ref, referral_state, org_id, outcome, reason, returned, updated_at";

/// A `case_status` row (`s`) with its owner row's code (`o`, if the gateway was
/// given the case), for readers; without an owner row, the code a gateway of an
/// earlier version wrote into the status row (replicas of both during a
/// rolling upgrade), else none.
const READ_COLUMNS: &str = "s.agency_id, COALESCE(o.verification_code, s.verification_code) AS verification_code, \
     s.referral_id, \
     s.case_id, s.case_no, s.external_ref, s.referral_state, s.org_id, s.outcome, s.reason, s.returned, s.updated_at";

/// A `case_owners` row as a stored status: the case as submitted, before the
/// status projection has recorded it.
pub(crate) const OWNER_COLUMNS: &str = "agency_id, verification_code, '' AS referral_id, \
     case_id, case_no, external_ref, 0 AS referral_state, '' AS org_id, 0 AS outcome, '' AS reason, 0 AS returned, \
     created_at AS updated_at";

pub(crate) fn stored_from(r: &AnyRow) -> Result<Stored, sqlx::Error> {
    Ok(Stored {
        owner: r.try_get("agency_id")?,
        verification_code: r.try_get("verification_code")?,
        referral_id: r.try_get("referral_id")?,
        status: status_from(r)?,
    })
}

async fn stored_where(conn: &mut AnyConnection, column: &str, value: &str) -> Result<Option<Stored>, sqlx::Error> {
    let sql = format!(
        "SELECT {READ_COLUMNS} FROM case_status s LEFT JOIN case_owners o ON o.case_id = s.case_id WHERE s.{column} = $1"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(value).fetch_optional(conn).await?;
    row.as_ref().map(stored_from).transpose()
}

/// A case's status by its id: as the status view has it, or, until the status
/// projection has recorded the case, as its submit call did.
pub async fn status(conn: &mut AnyConnection, case_id: &str) -> Result<Option<Stored>, sqlx::Error> {
    if let Some(stored) = stored_where(conn, "case_id", case_id).await? {
        return Ok(Some(stored));
    }
    let sql = format!("SELECT {OWNER_COLUMNS} FROM case_owners WHERE case_id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(case_id).fetch_optional(conn).await?;
    row.as_ref().map(stored_from).transpose()
}

/// A case's status by its case number, once the status projection has recorded
/// it (a lookup by number comes from a party holding a receipt, well after).
pub async fn by_case_no(conn: &mut AnyConnection, case_no: &str) -> Result<Option<Stored>, sqlx::Error> {
    stored_where(conn, "case_no", case_no).await
}

/// The stored statuses of `case_ids` (fewer where a case has none), read to be
/// changed in the caller's transaction: on PostgreSQL another writer of them
/// waits for its commit (locked in id order, so two such readers never deadlock).
pub async fn statuses_for_change(
    conn: &mut AnyConnection,
    case_ids: &std::collections::BTreeSet<&str>,
) -> Result<std::collections::HashMap<String, Stored>, sqlx::Error> {
    let ids: Vec<&str> = case_ids.iter().copied().collect();
    let mut found = std::collections::HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(fengqiao_platform::db::ROWS_PER_STATEMENT) {
        let sql = format!(
            "SELECT {STORED_COLUMNS} FROM case_status WHERE case_id IN ({}) ORDER BY case_id{}",
            fengqiao_platform::db::placeholders(1, chunk.len()),
            fengqiao_platform::db::for_update(conn),
        );
        let query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for row in fengqiao_platform::db::bind_padded(query, chunk).fetch_all(&mut *conn).await? {
            let stored = stored_from(&row)?;
            found.insert(stored.status.case_id.clone(), stored);
        }
    }
    Ok(found)
}

/// One change of a case's status: the status after it, and whom it concerns.
#[derive(Debug, Clone)]
pub struct Change {
    /// The agency that owns the case.
    pub agency_id: String,
    /// The organisations it concerns besides (the one handling the case, one it left).
    pub orgs: Vec<String>,
    /// The status after the change.
    pub status: CaseStatus,
    /// The referral the status follows after it.
    pub referral_id: String,
}

impl Change {
    /// A change only the case's agency reads, before any referral.
    pub fn to_agency(agency_id: &str, status: &CaseStatus) -> Self {
        Self { agency_id: agency_id.into(), orgs: Vec::new(), status: status.clone(), referral_id: String::new() }
    }
}

/// Who gives a status change its number in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Numbering {
    /// The transaction that writes it: right where one writer commits at a
    /// time (SQLite), so numbers follow commit order.
    AtCommit,
    /// [`number_new`], after commit: where writers commit side by side
    /// (PostgreSQL) a number taken inside a transaction could be seen after a
    /// larger one committed first.
    AfterCommit,
}

/// Writes each changed case's last status (at most [`ROWS_PER_STATEMENT`]
/// cases a statement) and every change, in order, for the log of its agency
/// and of each organisation it concerns: numbered at once, or left unnumbered
/// for [`number_new`] to move into the log once committed (see [`Numbering`]).
///
/// [`ROWS_PER_STATEMENT`]: fengqiao_platform::db::ROWS_PER_STATEMENT
pub async fn save(
    conn: &mut AnyConnection,
    changes: &[Change],
    at: i64,
    numbering: Numbering,
) -> Result<(), sqlx::Error> {
    // The last change of each case, in the order the cases first changed.
    let mut last: Vec<&Change> = Vec::with_capacity(changes.len());
    let mut place = std::collections::HashMap::with_capacity(changes.len());
    for change in changes {
        match place.entry(change.status.case_id.as_str()) {
            std::collections::hash_map::Entry::Occupied(at) => last[*at.get()] = change,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(last.len());
                last.push(change);
            }
        }
    }
    for chunk in last.chunks(fengqiao_platform::db::ROWS_PER_STATEMENT) {
        // VALUES columns are column1.. on both engines.
        let sql = format!(
            "UPDATE case_status SET referral_state = v.column2, org_id = v.column3, outcome = v.column4,
                 reason = v.column5, returned = v.column6, referral_id = v.column7, updated_at = v.column8
             FROM (VALUES {}) AS v WHERE case_status.case_id = v.column1",
            fengqiao_platform::db::values(conn, chunk.len(), 8)
        );
        let mut update = sqlx::query(sqlx::AssertSqlSafe(sql));
        for c in chunk {
            let s = &c.status;
            update = update
                .bind(&s.case_id)
                .bind(s.referral_state)
                .bind(&s.org_id)
                .bind(s.outcome)
                .bind(&s.reason)
                .bind(i32::from(s.returned_to_sender))
                .bind(&c.referral_id)
                .bind(at);
        }
        update.execute(&mut *conn).await?;
    }
    let mut rows: Vec<LogRow> = Vec::new();
    for change in changes {
        let encoded = change.status.encode_to_vec();
        let mut readers = vec![change.agency_id.as_str()];
        for org in &change.orgs {
            if !org.is_empty() && !readers.contains(&org.as_str()) {
                readers.push(org);
            }
        }
        rows.extend(readers.into_iter().map(|r| (change.status.case_id.as_str(), encoded.clone(), r)));
    }
    match numbering {
        Numbering::AtCommit => log_numbered(conn, &rows, at).await,
        Numbering::AfterCommit => leave_unnumbered(conn, &rows, at).await,
    }
}

/// A change for one reader's log: case, encoded status, reader.
type LogRow<'a> = (&'a str, Vec<u8>, &'a str);

/// Takes the next `rows.len()` numbers from the counter and writes the rows
/// into the log with them, in order.
async fn log_numbered(conn: &mut AnyConnection, rows: &[LogRow<'_>], at: i64) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let last: i64 = sqlx::query_scalar("UPDATE status_seq SET last = last + $1 WHERE id = 1 RETURNING last")
        .bind(rows.len() as i64)
        .fetch_one(&mut *conn)
        .await?;
    let mut seq = last - rows.len() as i64;
    for chunk in rows.chunks(fengqiao_platform::db::ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO status_log (created_at, seq, case_id, status, agency_id) VALUES {}",
            fengqiao_platform::db::values(conn, chunk.len(), 5)
        );
        let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (case_id, status, reader) in chunk {
            seq += 1;
            insert = insert.bind(at).bind(seq).bind(*case_id).bind(status).bind(*reader);
        }
        insert.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Leaves the rows unnumbered, in order, in `status_pending`.
async fn leave_unnumbered(conn: &mut AnyConnection, rows: &[LogRow<'_>], at: i64) -> Result<(), sqlx::Error> {
    // The rows in order: `written` numbers them as they are listed.
    for chunk in rows.chunks(fengqiao_platform::db::ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO status_pending (created_at, case_id, status, agency_id) VALUES {}",
            fengqiao_platform::db::values(conn, chunk.len(), 4)
        );
        let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (case_id, status, reader) in chunk {
            insert = insert.bind(at).bind(*case_id).bind(status).bind(*reader);
        }
        insert.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The most changes one round of [`number_new`] numbers.
pub(crate) const NUMBER_BATCH: i64 = 1000;

/// Numbers committed status changes in the order they were written, after
/// every number given before, and moves them from `status_pending` into the
/// log; returns how many, and for which agencies. Only rows already committed
/// are seen, and rounds are serialised on the counter, so a change committed
/// later always gets a larger number: a reader that has seen cursor N has seen
/// every change numbered up to N.
pub async fn number_new(db: &fengqiao_platform::Database) -> Result<Numbered, sqlx::Error> {
    let mut tx = db.begin().await?;
    // Locks the counter: one round at a time, across gateway replicas too.
    let last: i64 =
        sqlx::query_scalar("UPDATE status_seq SET last = last WHERE id = 1 RETURNING last").fetch_one(&mut *tx).await?;
    // Changes a gateway from before status_pending wrote into the log itself
    // (replicas of both during a rolling upgrade): numbered where they are.
    let in_place = sqlx::query(
        "UPDATE status_log SET seq = $1 + numbered.n
         FROM (SELECT written, ROW_NUMBER() OVER (ORDER BY written) AS n
               FROM status_log WHERE seq IS NULL ORDER BY written LIMIT $2) AS numbered
         WHERE status_log.written = numbered.written
         RETURNING agency_id",
    )
    .bind(last)
    .bind(NUMBER_BATCH)
    .fetch_all(&mut *tx)
    .await?;
    // The exact rows seen now: one committed after this read waits for the next round.
    let waiting: Vec<i64> = sqlx::query_scalar("SELECT written FROM status_pending ORDER BY written LIMIT $1")
        .bind(NUMBER_BATCH)
        .fetch_all(&mut *tx)
        .await?;
    let mut agencies: Vec<String> = in_place.iter().map(|r| r.try_get(0)).collect::<Result<_, _>>()?;
    for chunk in waiting.chunks(fengqiao_platform::db::ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO status_log (seq, agency_id, case_id, status, created_at)
             SELECT $1 + ROW_NUMBER() OVER (ORDER BY written), agency_id, case_id, status, created_at
             FROM status_pending WHERE written IN ({})
             RETURNING agency_id",
            fengqiao_platform::db::placeholders(2, chunk.len())
        );
        let insert = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(last + agencies.len() as i64);
        let delete = format!(
            "DELETE FROM status_pending WHERE written IN ({})",
            fengqiao_platform::db::placeholders(1, chunk.len())
        );
        let delete = sqlx::query(sqlx::AssertSqlSafe(delete));
        for row in fengqiao_platform::db::bind_padded(insert, chunk).fetch_all(&mut *tx).await? {
            agencies.push(row.try_get(0)?);
        }
        fengqiao_platform::db::bind_padded(delete, chunk).execute(&mut *tx).await?;
    }
    if agencies.is_empty() {
        tx.rollback().await?;
        return Ok(Numbered::default());
    }
    let count = agencies.len() as u64;
    sqlx::query("UPDATE status_seq SET last = $1 WHERE id = 1").bind(last + count as i64).execute(&mut *tx).await?;
    tx.commit().await?;
    agencies.sort_unstable();
    agencies.dedup();
    Ok(Numbered { count, agencies })
}

/// What a round of [`number_new`] numbered.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Numbered {
    /// How many changes.
    pub count: u64,
    /// The agencies whose logs they went to, each once.
    pub agencies: Vec<String>,
}

/// An agency's status changes after `cursor`, oldest first.
pub async fn log_after(
    conn: &mut AnyConnection,
    agency_id: &str,
    cursor: i64,
    limit: i64,
) -> Result<Vec<(i64, CaseStatus)>, sqlx::Error> {
    let rows =
        sqlx::query("SELECT seq, status FROM status_log WHERE agency_id = $1 AND seq > $2 ORDER BY seq LIMIT $3")
            .bind(agency_id)
            .bind(cursor)
            .bind(limit)
            .fetch_all(conn)
            .await?;
    rows.iter()
        .map(|r| {
            let bytes: Vec<u8> = r.try_get("status")?;
            let status = CaseStatus::decode(bytes.as_slice()).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            Ok((r.try_get("seq")?, status))
        })
        .collect()
}

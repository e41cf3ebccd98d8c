//! Routing's tables: the cases it routes and the sending side of referrals.

use fengqiao_proto::fengqiao::routing::v1::Referral;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// What routing keeps of a case.
#[derive(Debug, Clone)]
pub struct RoutedCase {
    /// The case id.
    pub case_id: String,
    /// The case number.
    pub case_no: String,
    /// The agency that sent it.
    pub source_agency: String,
    /// Where the dispute arose.
    pub division_code: String,
    /// Its risk level.
    pub risk_level: i32,
    /// The encoded dispute, passed on to each organisation.
    pub dispute: Vec<u8>,
}

/// Records a case's new risk level.
pub async fn set_risk(conn: &mut AnyConnection, case_id: &str, risk_level: i32) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE routed_cases SET risk_level = $1 WHERE case_id = $2")
        .bind(risk_level)
        .bind(case_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records each case at `at`, in one statement for up to
/// [`ROWS_PER_STATEMENT`](fengqiao_platform::db::ROWS_PER_STATEMENT) of them;
/// for each, false when it was recorded before (a redelivery) or earlier in `cases`.
pub async fn insert_cases(conn: &mut AnyConnection, cases: &[RoutedCase], at: i64) -> Result<Vec<bool>, sqlx::Error> {
    let mut new = Vec::with_capacity(cases.len());
    for chunk in cases.chunks(fengqiao_platform::db::ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO routed_cases (created_at, case_id, case_no, source_agency, division_code, risk_level, dispute)
             VALUES {} ON CONFLICT (case_id) DO NOTHING RETURNING case_id",
            fengqiao_platform::db::values(conn, chunk.len(), 7)
        );
        let mut insert = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
        for c in chunk {
            insert = insert
                .bind(at)
                .bind(&c.case_id)
                .bind(&c.case_no)
                .bind(&c.source_agency)
                .bind(&c.division_code)
                .bind(c.risk_level)
                .bind(&c.dispute);
        }
        let mut written: std::collections::HashSet<String> = insert.fetch_all(&mut *conn).await?.into_iter().collect();
        // A copy later in the chunk finds its id already taken out.
        new.extend(chunk.iter().map(|c| written.remove(&c.case_id)));
    }
    Ok(new)
}

/// A case by id.
pub async fn find_case(conn: &mut AnyConnection, case_id: &str) -> Result<Option<RoutedCase>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT case_id, case_no, source_agency, division_code, risk_level, dispute FROM routed_cases WHERE case_id = $1",
    )
    .bind(case_id)
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok(RoutedCase {
            case_id: r.try_get("case_id")?,
            case_no: r.try_get("case_no")?,
            source_agency: r.try_get("source_agency")?,
            division_code: r.try_get("division_code")?,
            risk_level: r.try_get("risk_level")?,
            dispute: r.try_get("dispute")?,
        })
    })
    .transpose()
}

/// Marks a case returned to its sender.
pub async fn mark_returned(conn: &mut AnyConnection, case_id: &str, reason: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE routed_cases SET returned_reason = $1 WHERE case_id = $2")
        .bind(reason)
        .bind(case_id)
        .execute(conn)
        .await?;
    Ok(())
}

const COLUMNS: &str =
    "referral_id, case_id, org_id, level, sender, state, explanation, reason, created_at, updated_at, mediator_id";

fn referral_from(r: &AnyRow) -> Result<(Referral, i32), sqlx::Error> {
    let ts = |c: &str| r.try_get::<i64, _>(c).map(fengqiao_platform::db::timestamp);
    Ok((
        Referral {
            referral_id: r.try_get("referral_id")?,
            case_id: r.try_get("case_id")?,
            org_id: r.try_get("org_id")?,
            sender: r.try_get("sender")?,
            state: r.try_get::<i32, _>("state")?,
            explanation: r.try_get("explanation")?,
            reason: r.try_get("reason")?,
            created_at: Some(ts("created_at")?),
            updated_at: Some(ts("updated_at")?),
            mediator_id: r.try_get("mediator_id")?,
        },
        r.try_get::<i32, _>("level")?,
    ))
}

/// Records a new referral (its organisation at `level`) at `at`.
pub async fn insert_referral(conn: &mut AnyConnection, r: &Referral, level: i32, at: i64) -> Result<(), sqlx::Error> {
    insert_referrals(conn, &[(r, level)], at).await
}

/// Records new referrals (each with its organisation's level) at `at`, in one
/// statement for up to [`ROWS_PER_STATEMENT`](fengqiao_platform::db::ROWS_PER_STATEMENT) of them.
pub async fn insert_referrals(conn: &mut AnyConnection, all: &[(&Referral, i32)], at: i64) -> Result<(), sqlx::Error> {
    for chunk in all.chunks(fengqiao_platform::db::ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO referrals (created_at, updated_at, referral_id, case_id, org_id, level, sender, state,
                 explanation, reason, mediator_id)
             VALUES {}",
            fengqiao_platform::db::values(conn, chunk.len(), 11)
        );
        let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (r, level) in chunk {
            insert = insert
                .bind(at)
                .bind(at)
                .bind(&r.referral_id)
                .bind(&r.case_id)
                .bind(&r.org_id)
                .bind(*level)
                .bind(&r.sender)
                .bind(r.state)
                .bind(&r.explanation)
                .bind(&r.reason)
                .bind(&r.mediator_id);
        }
        insert.execute(&mut *conn).await?;
    }
    Ok(())
}

/// A referral with its level.
pub async fn find_referral(
    conn: &mut AnyConnection,
    referral_id: &str,
) -> Result<Option<(Referral, i32)>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM referrals WHERE referral_id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(referral_id)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(referral_from)
        .transpose()
}

/// The referrals of `ids` that exist, each with its level, by id.
pub async fn find_referrals(
    conn: &mut AnyConnection,
    ids: &[&str],
) -> Result<std::collections::HashMap<String, (Referral, i32)>, sqlx::Error> {
    let mut found = std::collections::HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(fengqiao_platform::db::ROWS_PER_STATEMENT) {
        let sql = format!(
            "SELECT {COLUMNS} FROM referrals WHERE referral_id IN ({})",
            fengqiao_platform::db::placeholders(1, chunk.len())
        );
        let query = fengqiao_platform::db::bind_padded(sqlx::query(sqlx::AssertSqlSafe(sql)), chunk);
        for row in query.fetch_all(&mut *conn).await? {
            let (referral, level) = referral_from(&row)?;
            found.insert(referral.referral_id.clone(), (referral, level));
        }
    }
    Ok(found)
}

/// Every referral of a case, oldest first.
pub async fn case_referrals(conn: &mut AnyConnection, case_id: &str) -> Result<Vec<Referral>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM referrals WHERE case_id = $1 ORDER BY created_at, referral_id");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(case_id)
        .fetch_all(conn)
        .await?
        .iter()
        .map(|r| referral_from(r).map(|(referral, _)| referral))
        .collect()
}

/// Records a referral's new state and the reason given at `at`.
pub async fn set_state(
    conn: &mut AnyConnection,
    referral_id: &str,
    state: i32,
    reason: &str,
    at: i64,
) -> Result<(), sqlx::Error> {
    set_states(conn, &[(referral_id, state, reason)], at).await
}

/// Records each referral's new state and reason (`(referral_id, state,
/// reason)`, one move a referral) at `at`, in one statement for up to
/// [`ROWS_PER_STATEMENT`](fengqiao_platform::db::ROWS_PER_STATEMENT) of them.
pub async fn set_states(conn: &mut AnyConnection, moves: &[(&str, i32, &str)], at: i64) -> Result<(), sqlx::Error> {
    for chunk in moves.chunks(fengqiao_platform::db::ROWS_PER_STATEMENT) {
        // VALUES columns are column1.. on both engines.
        let sql = format!(
            "UPDATE referrals SET state = v.column2, reason = v.column3, updated_at = v.column4
             FROM (VALUES {}) AS v WHERE referrals.referral_id = v.column1",
            fengqiao_platform::db::values(conn, chunk.len(), 4)
        );
        let mut update = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (referral_id, state, reason) in chunk {
            update = update.bind(*referral_id).bind(*state).bind(*reason).bind(at);
        }
        update.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Referrals waiting for acceptance (REQUESTED or RECEIVED) since before `before`.
pub async fn unaccepted_since(conn: &mut AnyConnection, before: i64, limit: i64) -> Result<Vec<Referral>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM referrals WHERE state IN (1, 2) AND created_at < $1
         ORDER BY created_at LIMIT $2"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(before)
        .bind(limit)
        .fetch_all(conn)
        .await?
        .iter()
        .map(|r| referral_from(r).map(|(referral, _)| referral))
        .collect()
}

/// Marks (or clears) a referral as given up on for want of acceptance.
pub async fn set_timed_out(conn: &mut AnyConnection, referral_id: &str, timed_out: bool) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE referrals SET timed_out = $1 WHERE referral_id = $2")
        .bind(i32::from(timed_out))
        .bind(referral_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// True when routing gave up on this referral for want of acceptance.
pub async fn timed_out(conn: &mut AnyConnection, referral_id: &str) -> Result<bool, sqlx::Error> {
    let flag: Option<i32> = sqlx::query_scalar("SELECT timed_out FROM referrals WHERE referral_id = $1")
        .bind(referral_id)
        .fetch_optional(conn)
        .await?;
    Ok(flag == Some(1))
}

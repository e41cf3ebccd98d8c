//! Mediation's referrals table.

use fengqiao_proto::fengqiao::common::v1::{Dispute, ReferralState};
use fengqiao_proto::fengqiao::mediation::v1::{InboxItem, JointState};
use prost::Message;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// A referral row.
#[derive(Debug, Clone)]
pub struct Stored {
    /// What the API shows.
    pub item: InboxItem,
    /// When its mediation concluded.
    pub concluded_at: Option<i64>,
    /// A difficulty tier staff set (0: the rules decide), and why.
    pub tier_override: (u32, String),
}

const COLUMNS: &str = "referral_id, case_id, case_no, org_id, sender, state, dispute, risk_level, \
                       outcome, summary, reason, received_at, mediator_id, lead_mediator_id, clock_due_at, \
                       concluded_at, tier_override, tier_reason";

fn from_row(row: &AnyRow) -> Result<Stored, sqlx::Error> {
    let dispute: Option<Vec<u8>> = row.try_get("dispute")?;
    let dispute =
        dispute.map(|d| Dispute::decode(d.as_slice())).transpose().map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok(Stored {
        item: InboxItem {
            referral_id: row.try_get("referral_id")?,
            case_id: row.try_get("case_id")?,
            case_no: row.try_get("case_no")?,
            org_id: row.try_get("org_id")?,
            sender: row.try_get("sender")?,
            state: row.try_get::<i32, _>("state")?,
            dispute,
            risk_level: row.try_get::<i32, _>("risk_level")?,
            outcome: row.try_get::<i32, _>("outcome")?,
            summary: row.try_get("summary")?,
            reason: row.try_get("reason")?,
            received_at: Some(fengqiao_platform::db::timestamp(row.try_get("received_at")?)),
            mediator_id: row.try_get("mediator_id")?,
            lead_mediator_id: row.try_get("lead_mediator_id")?,
            clock_due_at: row.try_get::<Option<i64>, _>("clock_due_at")?.map(fengqiao_platform::db::timestamp),
        },
        concluded_at: row.try_get("concluded_at")?,
        tier_override: (row.try_get::<i32, _>("tier_override")? as u32, row.try_get("tier_reason")?),
    })
}

impl Stored {
    /// How many parties the case has (they are numbered from 1).
    pub fn party_count(&self) -> u32 {
        self.item.dispute.as_ref().map_or(0, |d| d.parties.len() as u32)
    }
}

/// One referral.
pub async fn find(conn: &mut AnyConnection, referral_id: &str) -> Result<Option<Stored>, sqlx::Error> {
    select(conn, referral_id, false).await
}

/// One referral, read to be changed: on PostgreSQL its row stays locked
/// (`FOR UPDATE`) until the caller's transaction ends, so a change of its
/// state waits, and what the caller checked still holds when it writes. On
/// SQLite the one writing connection already runs one change at a time, so
/// the read is plain. Call it inside a transaction.
pub async fn find_for_change(conn: &mut AnyConnection, referral_id: &str) -> Result<Option<Stored>, sqlx::Error> {
    select(conn, referral_id, true).await
}

/// One referral, read to be changed ([`find_for_change`]) or not ([`find`]).
pub(crate) async fn select(
    conn: &mut AnyConnection,
    referral_id: &str,
    for_change: bool,
) -> Result<Option<Stored>, sqlx::Error> {
    let lock = if for_change { fengqiao_platform::db::for_update(conn) } else { "" };
    let sql = format!("SELECT {COLUMNS} FROM referrals WHERE referral_id = $1{lock}");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(referral_id)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Inserts a new referral; false when one with this id exists (a redelivery,
/// or a cancellation that arrived first).
pub async fn insert(conn: &mut AnyConnection, item: &InboxItem, at: i64) -> Result<bool, sqlx::Error> {
    Ok(insert_all(conn, std::slice::from_ref(item), at).await?[0])
}

/// Inserts referrals (at most [`ROWS_PER_STATEMENT`] a statement); for each,
/// whether it is new (an existing row, e.g. one cancelled before it arrived, or
/// an earlier copy in `items`, stays as it is).
///
/// [`ROWS_PER_STATEMENT`]: fengqiao_platform::db::ROWS_PER_STATEMENT
pub async fn insert_all(conn: &mut AnyConnection, items: &[InboxItem], at: i64) -> Result<Vec<bool>, sqlx::Error> {
    let mut new = Vec::with_capacity(items.len());
    for chunk in items.chunks(fengqiao_platform::db::ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO referrals (received_at, updated_at, referral_id, case_id, case_no, org_id, sender, state,
                 dispute, risk_level, outcome, summary, reason, mediator_id, source)
             VALUES {}
             ON CONFLICT (referral_id) DO NOTHING RETURNING referral_id",
            fengqiao_platform::db::values(conn, chunk.len(), 15)
        );
        let mut insert = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
        for item in chunk {
            insert = insert
                .bind(at)
                .bind(at)
                .bind(&item.referral_id)
                .bind(&item.case_id)
                .bind(&item.case_no)
                .bind(&item.org_id)
                .bind(&item.sender)
                .bind(item.state)
                .bind(item.dispute.as_ref().map(|d| d.encode_to_vec()))
                .bind(item.risk_level)
                .bind(item.outcome)
                .bind(&item.summary)
                .bind(&item.reason)
                .bind(&item.mediator_id)
                .bind(item.dispute.as_ref().map_or(0, |d| d.source));
        }
        let mut written: std::collections::HashSet<String> = insert.fetch_all(&mut *conn).await?.into_iter().collect();
        // A copy later in the chunk finds its id already taken out.
        new.extend(chunk.iter().map(|item| written.remove(&item.referral_id)));
    }
    Ok(new)
}

/// Moves a referral from `from` to the item's state; false when its state is
/// no longer `from` (a concurrent change won).
pub async fn update_state(
    conn: &mut AnyConnection,
    item: &InboxItem,
    from: ReferralState,
    at: i64,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE referrals SET state = $1, outcome = $2, summary = $3, reason = $4, updated_at = $5,
             concluded_at = CASE WHEN $1 = $8 THEN $5 ELSE concluded_at END
         WHERE referral_id = $6 AND state = $7",
    )
    .bind(item.state)
    .bind(item.outcome)
    .bind(&item.summary)
    .bind(&item.reason)
    .bind(at)
    .bind(&item.referral_id)
    .bind(from as i32)
    .bind(ReferralState::Completed as i32)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// What an inbox page is narrowed to.
#[derive(Debug, Default)]
pub struct InboxFilter {
    /// States; any when empty.
    pub states: Vec<i32>,
    /// Risk levels; any when empty.
    pub risk_levels: Vec<i32>,
    /// Case sources; any when empty.
    pub sources: Vec<i32>,
    /// Mediation clock due before this instant.
    pub due_before: Option<i64>,
    /// Led by this mediator.
    pub lead_mediator_id: Option<String>,
}

/// Numbered placeholders for a query built from optional parts.
struct Placeholders(usize);

impl Placeholders {
    fn next(&mut self) -> String {
        self.0 += 1;
        format!("${}", self.0)
    }

    fn list(&mut self, n: usize) -> String {
        (0..n).map(|_| self.next()).collect::<Vec<_>>().join(", ")
    }
}

/// One page of an organisation's inbox (its referrals and the joint mediations
/// it was invited to and did not decline), newest first, after the keyset `after`.
pub async fn inbox(
    conn: &mut AnyConnection,
    org_id: &str,
    filter: &InboxFilter,
    after: Option<(i64, String)>,
    limit: i64,
) -> Result<Vec<Stored>, sqlx::Error> {
    let mut p = Placeholders(1);
    let mut sql = format!(
        "SELECT {COLUMNS} FROM referrals WHERE (org_id = $1 OR referral_id IN
            (SELECT referral_id FROM joint_organisations WHERE org_id = $1 AND state <> {}))",
        JointState::Declined as i32
    );
    if after.is_some() {
        let (at, id) = (p.next(), p.next());
        sql.push_str(&format!(" AND (received_at < {at} OR (received_at = {at} AND referral_id < {id}))"));
    }
    for (column, values) in
        [("state", &filter.states), ("risk_level", &filter.risk_levels), ("source", &filter.sources)]
    {
        if !values.is_empty() {
            sql.push_str(&format!(" AND {column} IN ({})", p.list(values.len())));
        }
    }
    if filter.due_before.is_some() {
        // Only referrals still worked on: a concluded one keeps its last deadline for the record.
        sql.push_str(&format!(
            " AND clock_due_at < {} AND state IN ({}, {}, {})",
            p.next(),
            ReferralState::Accepted as i32,
            ReferralState::InProgress as i32,
            ReferralState::OnHold as i32
        ));
    }
    if filter.lead_mediator_id.is_some() {
        sql.push_str(&format!(" AND lead_mediator_id = {}", p.next()));
    }
    sql.push_str(&format!(" ORDER BY received_at DESC, referral_id DESC LIMIT {}", p.next()));
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org_id);
    if let Some((at, id)) = after {
        q = q.bind(at).bind(id);
    }
    for value in filter.states.iter().chain(&filter.risk_levels).chain(&filter.sources) {
        q = q.bind(*value);
    }
    if let Some(due) = filter.due_before {
        q = q.bind(due);
    }
    if let Some(mediator) = &filter.lead_mediator_id {
        q = q.bind(mediator.clone());
    }
    q.bind(limit).fetch_all(conn).await?.iter().map(from_row).collect()
}

/// Keeps the latest due of a case's mediation clock on its referrals being worked on.
pub async fn set_clock_due(conn: &mut AnyConnection, case_id: &str, due: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE referrals SET clock_due_at = $1 WHERE case_id = $2 AND state IN ($3, $4, $5)")
        .bind(due)
        .bind(case_id)
        .bind(ReferralState::Accepted as i32)
        .bind(ReferralState::InProgress as i32)
        .bind(ReferralState::OnHold as i32)
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use fengqiao_platform::component::{Component, PLATFORM_MIGRATIONS};
    use fengqiao_platform::testing::TestDatabase;
    use fengqiao_platform::{migrate, Backend};

    use super::*;

    /// The mediation work that checks a referral's state and then writes
    /// (sessions, documents, visits, tiers, invitations) reads it with
    /// `find_for_change`: a conclusion landing in between must wait for that
    /// work's commit, not slip under its check.
    async fn a_state_change_waits_for_a_referral_read_for_change(backend: Backend) {
        let test_db = TestDatabase::new(backend, "mediation").await.unwrap();
        let mut all = PLATFORM_MIGRATIONS.to_vec();
        all.extend_from_slice(crate::Mediation::MIGRATIONS);
        migrate::run(&test_db.db, &all).await.unwrap();
        let item = InboxItem {
            referral_id: "referral-1".into(),
            org_id: "village-620802001001".into(),
            state: ReferralState::InProgress as i32,
            ..Default::default()
        };
        let mut tx = test_db.db.begin().await.unwrap();
        assert!(insert(&mut tx, &item, 1).await.unwrap());
        tx.commit().await.unwrap();

        let mut working = test_db.db.begin().await.unwrap();
        let seen = find_for_change(&mut working, "referral-1").await.unwrap().expect("stored");
        assert_eq!(seen.item.state, ReferralState::InProgress as i32);
        let db = test_db.db.clone();
        let concluded = InboxItem { state: ReferralState::Completed as i32, ..item };
        let conclusion = tokio::spawn(async move {
            let mut tx = db.begin().await?;
            let moved = update_state(&mut tx, &concluded, ReferralState::InProgress, 2).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(moved)
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!conclusion.is_finished(), "the referral was concluded under work that had checked it was in progress");
        working.commit().await.unwrap();
        assert!(conclusion.await.unwrap().unwrap(), "the conclusion goes ahead once the work committed");
        test_db.finish().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite_a_state_change_waits_for_a_referral_read_for_change() {
        a_state_change_waits_for_a_referral_read_for_change(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_postgres_a_state_change_waits_for_a_referral_read_for_change() {
        a_state_change_waits_for_a_referral_read_for_change(Backend::Postgres).await;
    }
}

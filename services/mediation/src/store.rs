//! Mediation's referrals table.

use fengqiao_proto::fengqiao::common::v1::{Dispute, ReferralState};
use fengqiao_proto::fengqiao::mediation::v1::InboxItem;
use prost::Message;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// A referral row.
#[derive(Debug, Clone)]
pub struct Stored {
    /// What the API shows.
    pub item: InboxItem,
}

const COLUMNS: &str = "referral_id, case_id, case_no, org_id, sender, state, dispute, risk_level, \
                       outcome, summary, reason, received_at, mediator_id";

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
        },
    })
}

/// One referral.
pub async fn find(conn: &mut AnyConnection, referral_id: &str) -> Result<Option<Stored>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM referrals WHERE referral_id = $1");
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
    let n = sqlx::query(
        "INSERT INTO referrals (referral_id, case_id, case_no, org_id, sender, state, dispute, risk_level,
             outcome, summary, reason, received_at, updated_at, mediator_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13)
         ON CONFLICT (referral_id) DO NOTHING",
    )
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
    .bind(at)
    .bind(&item.mediator_id)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
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
        "UPDATE referrals SET state = $1, outcome = $2, summary = $3, reason = $4, updated_at = $5
         WHERE referral_id = $6 AND state = $7",
    )
    .bind(item.state)
    .bind(item.outcome)
    .bind(&item.summary)
    .bind(&item.reason)
    .bind(at)
    .bind(&item.referral_id)
    .bind(from as i32)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// One page of an organisation's inbox, newest first, after the keyset `after`.
pub async fn inbox(
    conn: &mut AnyConnection,
    org_id: &str,
    states: &[i32],
    after: Option<(i64, String)>,
    limit: i64,
) -> Result<Vec<Stored>, sqlx::Error> {
    let mut sql = format!("SELECT {COLUMNS} FROM referrals WHERE org_id = $1");
    let mut n = 1;
    if after.is_some() {
        sql.push_str(" AND (received_at < $2 OR (received_at = $2 AND referral_id < $3))");
        n = 3;
    }
    if !states.is_empty() {
        let list: Vec<String> = (0..states.len()).map(|i| format!("${}", n + 1 + i)).collect();
        sql.push_str(&format!(" AND state IN ({})", list.join(", ")));
        n += states.len();
    }
    sql.push_str(&format!(" ORDER BY received_at DESC, referral_id DESC LIMIT ${}", n + 1));
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org_id);
    if let Some((at, id)) = after {
        q = q.bind(at).bind(id);
    }
    for s in states {
        q = q.bind(*s);
    }
    q.bind(limit).fetch_all(conn).await?.iter().map(from_row).collect()
}

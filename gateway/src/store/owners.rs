//! Who owns each case (`case_owners`): written once by the submit call, read
//! back for a resubmission, and by the status projection for a case whose
//! progress comes before its registration.

use fengqiao_platform::group_commit::BoxFuture;
use fengqiao_proto::fengqiao::gateway::v1::CaseStatus;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{in_order, record_all, stored_from, Stored, OWNER_COLUMNS};

/// Records in the status view, as [`record_all`] does, those of `case_ids`
/// that a submit call owns (`case_owners`); returns what is stored for them.
/// For the status projection, when a case's progress comes before its
/// registration (a registration redelivered after a crash comes back only
/// after the consumer's ack wait, while the case's later events go on).
pub async fn record_owned(conn: &mut AnyConnection, case_ids: &[&str], at: i64) -> Result<Vec<Stored>, sqlx::Error> {
    let owned: Vec<Stored> = owner_rows(conn, case_ids).await?.iter().map(stored_from).collect::<Result<_, _>>()?;
    if owned.is_empty() {
        return Ok(owned);
    }
    let rows: Vec<(&str, &CaseStatus, i64)> = owned.iter().map(|o| (o.owner.as_str(), &o.status, at)).collect();
    record_all(conn, &rows).await
}

/// A submission's owner row (`case_owners`), written once, by the submit call:
/// who sent the case, the case as the call knew it, the code its parties
/// quote. Shares commits on PostgreSQL too: no other transaction writes these
/// rows (the status projection writes `case_status`), so a batch waits on no
/// one but a racing resubmission of one of its cases. A new case's row rides
/// on its call's audit commit instead (see [`insert_sql`]).
pub struct Own {
    /// The agency that submitted the case.
    pub agency_id: String,
    /// Its first status.
    pub status: CaseStatus,
    /// Its code ([`CodeKey::code_for`](crate::codes::CodeKey::code_for) the
    /// case: a racing resubmission writes the same).
    pub verification_code: String,
    /// When (µs).
    pub at: i64,
}

impl Own {
    /// What is stored once this row is written and no other was first: what a
    /// new case's submit call answers before its audit commit writes the row.
    pub fn as_stored(&self) -> Stored {
        let mut status = self.status.clone();
        status.updated_at = Some(fengqiao_platform::db::timestamp(self.at));
        Stored {
            owner: self.agency_id.clone(),
            status,
            verification_code: self.verification_code.clone(),
            referral_id: String::new(),
        }
    }
}

/// The statement writing the owner rows given as `VALUES` rows (bind each with
/// [`bind_owner`]) where `condition` holds, leaving a case's earlier row as it is.
pub(crate) fn insert_sql(values: &str, condition: &str) -> String {
    format!(
        "INSERT INTO case_owners (case_id, agency_id, case_no, external_ref, verification_code, created_at)
         SELECT v.* FROM (VALUES {values}) AS v WHERE {condition} ON CONFLICT (case_id) DO NOTHING"
    )
}

/// Binds an owner's row of [`insert_sql`].
pub(crate) fn bind_owner<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    w: &'q Own,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    query
        .bind(&w.status.case_id)
        .bind(&w.agency_id)
        .bind(&w.status.case_no)
        .bind(&w.status.external_ref)
        .bind(&w.verification_code)
        .bind(w.at)
}

/// Writes `all` in the caller's transaction, a case's earlier row left as it is.
pub async fn insert_all(conn: &mut AnyConnection, all: &[&Own]) -> Result<(), sqlx::Error> {
    for chunk in all.chunks(fengqiao_platform::db::ROWS_PER_STATEMENT) {
        let sql = insert_sql(&fengqiao_platform::db::values(conn, chunk.len(), 6), "TRUE");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for w in chunk {
            query = bind_owner(query, w);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

impl fengqiao_platform::group_commit::Write for Own {
    type Output = Stored;
    const NAME: &'static str = "case_owner";
    const BATCHES_ON_POSTGRES: bool = true;

    fn apply<'c>(&'c self, conn: &'c mut AnyConnection) -> BoxFuture<'c, Result<Stored, sqlx::Error>> {
        Box::pin(async move { Ok(Self::apply_all(&[self], conn).await?.remove(0)) })
    }

    /// The batch's new owners in one statement; a case recorded before keeps
    /// its first owner and code, read back in a second.
    fn apply_all<'c>(
        writes: &'c [&'c Self],
        conn: &'c mut AnyConnection,
    ) -> BoxFuture<'c, Result<Vec<Stored>, sqlx::Error>> {
        Box::pin(async move {
            // Each case once, in id order: two batches racing with the same cases (resubmissions)
            // then wait on each other in one order, never in a circle.
            let mut first: std::collections::BTreeMap<&str, &Own> = std::collections::BTreeMap::new();
            for w in writes {
                first.entry(w.status.case_id.as_str()).or_insert(w);
            }
            let new: Vec<&Own> = first.into_values().collect();
            let mut rows = Vec::with_capacity(new.len());
            for chunk in new.chunks(fengqiao_platform::db::ROWS_PER_STATEMENT) {
                let values = fengqiao_platform::db::values(conn, chunk.len(), 6);
                let sql = format!("{} RETURNING {OWNER_COLUMNS}", insert_sql(&values, "TRUE"));
                let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
                for w in chunk {
                    insert = bind_owner(insert, w);
                }
                rows.extend(insert.fetch_all(&mut *conn).await?);
            }
            if rows.len() < new.len() {
                // Some were recorded before: their first owner's row.
                let inserted: std::collections::HashSet<String> =
                    rows.iter().map(|r| r.try_get("case_id")).collect::<Result<_, _>>()?;
                let earlier: Vec<&str> =
                    new.iter().map(|w| w.status.case_id.as_str()).filter(|c| !inserted.contains(*c)).collect();
                rows.extend(owner_rows(conn, &earlier).await?);
            }
            in_order(writes.iter().map(|w| w.status.case_id.as_str()), &rows)
        })
    }
}

/// The owner rows of `case_ids` (fewer where a case has none), in [`OWNER_COLUMNS`].
async fn owner_rows(conn: &mut AnyConnection, case_ids: &[&str]) -> Result<Vec<AnyRow>, sqlx::Error> {
    let mut rows = Vec::with_capacity(case_ids.len());
    for chunk in case_ids.chunks(fengqiao_platform::db::ROWS_PER_STATEMENT) {
        let sql = format!(
            "SELECT {OWNER_COLUMNS} FROM case_owners WHERE case_id IN ({})",
            fengqiao_platform::db::placeholders(1, chunk.len())
        );
        let query = sqlx::query(sqlx::AssertSqlSafe(sql));
        rows.extend(fengqiao_platform::db::bind_padded(query, chunk).fetch_all(&mut *conn).await?);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use fengqiao_platform::db::Backend;
    use fengqiao_platform::group_commit::Write;
    use fengqiao_proto::fengqiao::gateway::v1::CaseStatus;

    use super::Own;

    fn own(agency: &str, case: &str, case_no: &str) -> Own {
        let status = CaseStatus { case_id: case.into(), case_no: case_no.into(), ..Default::default() };
        Own { agency_id: agency.into(), status, verification_code: format!("code-{agency}-{case}"), at: 1 }
    }

    /// A batch of owner rows stores and answers what the same writes one by one
    /// would: the first owner and its code stay, the same case twice in a batch
    /// gets one row; until the status projection records a case, its status is
    /// read from its owner row.
    async fn a_batch_of_owners_is_stored_as_one_by_one(backend: Backend) {
        let t = crate::test_database(backend).await;
        let mut conn = t.db.writer().acquire().await.unwrap();
        let earlier = [own("court-1", "case-b", "B-1"), own("court-1", "case-c", "")];
        let earlier: Vec<&Own> = earlier.iter().collect();
        let before = Own::apply_all(&earlier, &mut conn).await.unwrap();

        let batch = [
            own("police-1", "case-d", "D-1"),
            own("police-1", "case-a", "A-1"),
            own("police-1", "case-b", "B-1"),
            own("police-1", "case-c", "C-1"),
            own("police-1", "case-d", "D-1"),
        ];
        let writes: Vec<&Own> = batch.iter().collect();
        let stored = Own::apply_all(&writes, &mut conn).await.unwrap();
        let seen: Vec<(&str, &str, &str)> =
            stored.iter().map(|s| (s.status.case_id.as_str(), s.owner.as_str(), s.status.case_no.as_str())).collect();
        assert_eq!(
            seen,
            [
                ("case-d", "police-1", "D-1"),
                ("case-a", "police-1", "A-1"),
                ("case-b", "court-1", "B-1"),
                ("case-c", "court-1", ""),
                ("case-d", "police-1", "D-1"),
            ]
        );
        assert_eq!(stored[0].verification_code, stored[4].verification_code, "one row for case-d");
        assert_eq!(stored[2].verification_code, before[0].verification_code, "case-b keeps its first code");
        assert!(stored.iter().all(|s| s.verification_code.len() >= 8), "every owner has a code");
        // A new case's call answers before its row is written: what it answers is what is stored.
        let answered = batch[1].as_stored();
        assert_eq!(
            (&answered.owner, &answered.status, &answered.verification_code, &answered.referral_id),
            (&stored[1].owner, &stored[1].status, &stored[1].verification_code, &stored[1].referral_id)
        );
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM case_owners").fetch_one(&mut *conn).await.unwrap();
        assert_eq!(rows, 4);

        // Read back: from the owner row, then from the status view with the owner's code.
        let read = crate::store::status(&mut conn, "case-c").await.unwrap().expect("case-c from its owner row");
        assert_eq!(
            (read.owner.as_str(), read.verification_code.as_str()),
            ("court-1", before[1].verification_code.as_str())
        );
        let registered = CaseStatus { case_id: "case-c".into(), case_no: "C-1".into(), ..Default::default() };
        crate::store::record_all(&mut conn, &[("court-1", &registered, 2)]).await.unwrap();
        let read = crate::store::by_case_no(&mut conn, "C-1").await.unwrap().expect("case-c by its number");
        assert_eq!(read.verification_code, before[1].verification_code, "the code the submit call gave");
        assert!(crate::store::status(&mut conn, "case-x").await.unwrap().is_none());
        drop(conn);
        t.finish().await;
    }

    /// The status projection holds a case's status row until its lane's batch
    /// commits; the case's owner row is written meanwhile all the same (they
    /// used to be one row, and a batch of owners waited, or deadlocked, there).
    #[tokio::test]
    async fn on_postgres_an_owner_row_waits_on_no_status_projection_transaction() {
        let t = crate::test_database(Backend::Postgres).await;
        let mut projection = t.db.pool().begin().await.unwrap();
        let registered = CaseStatus { case_id: "case-a".into(), case_no: "A-1".into(), ..Default::default() };
        crate::store::record_all(&mut projection, &[("police-1", &registered, 1)]).await.unwrap();

        let mut conn = t.db.pool().acquire().await.unwrap();
        let write = own("police-1", "case-a", "A-1");
        let writes = [&write];
        let written = tokio::time::timeout(std::time::Duration::from_secs(5), Own::apply_all(&writes, &mut conn));
        let stored = written.await.expect("the owner row is written while the projection holds the status").unwrap();
        assert_eq!((stored[0].owner.as_str(), stored[0].status.case_no.as_str()), ("police-1", "A-1"));
        projection.commit().await.unwrap();
        let read = crate::store::status(&mut conn, "case-a").await.unwrap().expect("case-a");
        assert_eq!(read.verification_code, stored[0].verification_code, "the view reads the owner's code");
        drop(conn);
        t.finish().await;
    }

    #[tokio::test]
    async fn on_sqlite_a_batch_of_owners_is_stored_as_one_by_one() {
        a_batch_of_owners_is_stored_as_one_by_one(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn on_postgres_a_batch_of_owners_is_stored_as_one_by_one() {
        a_batch_of_owners_is_stored_as_one_by_one(Backend::Postgres).await;
    }
}

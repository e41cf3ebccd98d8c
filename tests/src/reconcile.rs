//! Reconciling what the system did with what was asked of it: each case's
//! steps as the sending agency's status stream tells them, and the counts by
//! case id in each component's own tables.

use std::collections::BTreeMap;

use fengqiao_proto::fengqiao::common::v1::ReferralState;
use fengqiao_proto::fengqiao::gateway::v1::WatchStatusResponse;

/// How many times each case reached each referral state, and was concluded,
/// by the agency's stream (one entry per event the gateway applied).
pub fn tally(changes: &[WatchStatusResponse]) -> BTreeMap<String, (BTreeMap<i32, usize>, usize)> {
    let mut per_case: BTreeMap<String, (BTreeMap<i32, usize>, usize)> = BTreeMap::new();
    let mut last: BTreeMap<String, (i32, i32)> = BTreeMap::new();
    for c in changes {
        let s = c.status.as_ref().unwrap();
        let entry = per_case.entry(s.case_id.clone()).or_default();
        let before = last.insert(s.case_id.clone(), (s.referral_state, s.outcome)).unwrap_or((-1, 0));
        if s.outcome != before.1 {
            entry.1 += 1;
        } else {
            *entry.0.entry(s.referral_state).or_default() += 1;
        }
    }
    per_case
}

/// Panics unless each of `cases` went through every step of a referral, and
/// was concluded, exactly once by the stream.
pub fn assert_each_step_once(changes: &[WatchStatusResponse], cases: &[String]) {
    let tally = tally(changes);
    use ReferralState::*;
    for case in cases {
        let (states, concluded) = &tally[case];
        for state in [Requested, Received, Accepted, InProgress, Completed] {
            assert_eq!(states.get(&(state as i32)), Some(&1), "case {case}: {state:?} once; saw {states:?}");
        }
        assert_eq!(*concluded, 1, "case {case} concluded once");
    }
}

/// Panics unless each of `cases`, by the stream, moved only forward (a step
/// may be missing where a retried delivery was superseded by a later one
/// after a crash, but none repeats or comes back), was completed once and
/// concluded once.
pub fn assert_steps_forward_and_concluded_once(changes: &[WatchStatusResponse], cases: &[String]) {
    use ReferralState::*;
    let order = [Unspecified, Requested, Received, Accepted, InProgress, Completed].map(|s| s as i32);
    let mut seen: BTreeMap<&str, (Option<usize>, usize)> = BTreeMap::new();
    let mut last_outcome: BTreeMap<&str, i32> = BTreeMap::new();
    for c in changes {
        let s = c.status.as_ref().expect("a status");
        let outcome_before = last_outcome.insert(&s.case_id, s.outcome).unwrap_or(0);
        let entry = seen.entry(&s.case_id).or_default();
        if s.outcome != outcome_before {
            entry.1 += 1;
            continue;
        }
        let rank = order.iter().position(|o| *o == s.referral_state).expect("a state of this workload");
        let story: Vec<(i32, i32)> = changes
            .iter()
            .filter_map(|c| c.status.as_ref())
            .filter(|x| x.case_id == s.case_id)
            .map(|x| (x.referral_state, x.outcome))
            .collect();
        assert!(entry.0.is_none_or(|r| rank > r), "case {}: (state, outcome) went {story:?}", s.case_id);
        entry.0 = Some(rank);
    }
    for case in cases {
        let (last, concluded) = seen.get(case.as_str()).copied().unwrap_or_default();
        assert_eq!(last, Some(order.len() - 1), "case {case} completed");
        assert_eq!(concluded, 1, "case {case} concluded once");
    }
}

/// What the components' tables say about a set of submitted cases.
#[derive(Debug, Default)]
pub struct Reconciliation {
    /// Cases submitted (answered to the agency).
    pub submitted: usize,
    /// Of those, registered by intake.
    pub registered: usize,
    /// Of those, referred by routing.
    pub routed: usize,
    /// Of those, concluded by mediation.
    pub concluded: usize,
    /// Cases registered that were never submitted (should be none).
    pub unasked: usize,
    /// Steps missing (a case never registered, routed or concluded).
    pub lost: usize,
    /// Steps or announcements that happened more than once.
    pub duplicated: usize,
    /// What was lost or duplicated, for the failure message.
    pub details: Vec<String>,
}

async fn count_by(pool: &sqlx::PgPool, sql: &str) -> BTreeMap<String, i64> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql.to_string())).fetch_all(pool).await.expect("a count");
    rows.into_iter().collect()
}

/// Counts, by case id, registrations (intake), referrals (routing),
/// conclusions (mediation) and the announcements of each, in the database at `url`.
pub async fn reconcile(url: &str, cases: &[String]) -> Reconciliation {
    let pool = sqlx::PgPool::connect(url).await.expect("the test database");
    let registered = count_by(&pool, "SELECT case_id, COUNT(*) FROM intake.cases GROUP BY case_id").await;
    let routed = count_by(&pool, "SELECT case_id, COUNT(*) FROM routing.referrals GROUP BY case_id").await;
    let concluded = count_by(
        &pool,
        "SELECT r.case_id, COUNT(*) FROM mediation.conclusions c JOIN mediation.referrals r USING (referral_id)
         GROUP BY r.case_id",
    )
    .await;
    let announced = count_by(
        &pool,
        "SELECT case_id || ' ' || event_type, COUNT(*) FROM (
            SELECT case_id, event_type FROM intake.fq_outbox WHERE event_type = 'fq.v1.case.registered'
            UNION ALL SELECT case_id, event_type FROM routing.fq_outbox WHERE event_type = 'fq.v1.referral.requested'
            UNION ALL SELECT case_id, event_type FROM mediation.fq_outbox WHERE event_type = 'fq.v1.mediation.concluded'
         ) e GROUP BY 1",
    )
    .await;
    pool.close().await;
    let mut r = Reconciliation { submitted: cases.len(), ..Default::default() };
    for case in cases {
        for (what, table, tally) in [
            ("registered", &registered, &mut r.registered),
            ("routed", &routed, &mut r.routed),
            ("concluded", &concluded, &mut r.concluded),
        ] {
            match table.get(case) {
                None => {
                    r.lost += 1;
                    r.details.push(format!("case {case} was never {what}"));
                }
                Some(n) => {
                    *tally += 1;
                    if *n > 1 {
                        r.duplicated += 1;
                        r.details.push(format!("case {case} was {what} {n} times"));
                    }
                }
            }
        }
    }
    for (what, n) in announced.iter().filter(|(_, n)| **n > 1) {
        r.duplicated += 1;
        r.details.push(format!("{what} announced {n} times"));
    }
    r.unasked = registered.keys().filter(|c| !cases.contains(c)).count();
    r
}

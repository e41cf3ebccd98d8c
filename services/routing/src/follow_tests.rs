//! The handler of routing's consumer: receipts followed together (a lane's
//! runs, other moves between them) leave the same referrals, clocks, alarms
//! and events as followed one by one, on both engines.

use std::sync::Arc;

use fengqiao_platform::bus::Envelope;
use fengqiao_platform::consumer::{Arrival, EventHandler};
use fengqiao_platform::db::{Backend, Database};
use fengqiao_platform::outbox::OutboxNotifier;
use fengqiao_platform::testing::TestDatabase;
use fengqiao_proto::fengqiao::common::v1::{ReferralState, Source};
use fengqiao_proto::fengqiao::events::v1::ReferralStateChanged;
use fengqiao_proto::EventKind;

use crate::alarms::{self, AlarmKind};
use crate::testing::registered;
use crate::FollowCases;

async fn follow(backend: Backend) -> (TestDatabase, FollowCases) {
    let (test_db, routing) = crate::testing::routing(backend).await;
    let supervision = crate::supervision::Supervision::new(
        test_db.db.clone(),
        OutboxNotifier::default(),
        crate::testing::regimes(),
        Default::default(),
    );
    (test_db, FollowCases { routing: Arc::new(routing), supervision: Arc::new(supervision) })
}

async fn apply_together(db: &Database, handler: &FollowCases, events: &[Envelope]) {
    let arrivals: Vec<Arrival> = events.iter().map(|event| Arrival { event, span: tracing::Span::none() }).collect();
    let mut tx = db.begin().await.unwrap();
    handler.handle_all(&mut tx, &arrivals).await.unwrap();
    tx.commit().await.unwrap();
}

async fn apply_one_by_one(db: &Database, handler: &FollowCases, events: &[Envelope]) {
    for event in events {
        let mut tx = db.begin().await.unwrap();
        handler.handle(&mut tx, event).await.unwrap();
        tx.commit().await.unwrap();
    }
}

/// The move of `case`'s referral (read from `db`, where routing made it) from `from` to `to`.
async fn moved(db: &Database, case: &str, kind: EventKind, from: ReferralState, to: ReferralState) -> Envelope {
    let referral_id: String = sqlx::query_scalar("SELECT referral_id FROM referrals WHERE case_id = $1")
        .bind(case)
        .fetch_one(db.pool())
        .await
        .unwrap();
    let ev = ReferralStateChanged {
        case_id: case.into(),
        referral_id,
        from_state: from as i32,
        to_state: to as i32,
        reason: format!("{case} {}", to.as_str_name()),
        ..Default::default()
    };
    Envelope::new("mediation", kind, &ev)
}

/// Each referral's state and reason, its case's clocks, the alarms about it
/// and every event, by case (each database made its own referral ids).
async fn outcome(db: &Database) -> Vec<String> {
    let queries = [
        "SELECT case_id, state, reason FROM referrals ORDER BY case_id",
        "SELECT case_id, kind, state FROM clocks ORDER BY case_id, kind",
        "SELECT r.case_id, a.kind, CASE WHEN a.cleared_at IS NULL THEN 'open' ELSE 'cleared' END FROM alarms a JOIN referrals r ON r.referral_id = a.subject_id
         ORDER BY r.case_id, a.kind",
        "SELECT event_type, case_id FROM fq_outbox ORDER BY id",
    ];
    crate::testing::rows(db, &queries).await
}

async fn receipts_together_leave_what_one_by_one_leaves(backend: Backend) {
    use EventKind::{ReferralAccepted, ReferralReceived};
    use ReferralState::{Accepted, Received, Requested};
    let (alone, one_by_one) = follow(backend).await;
    let (together, at_once) = follow(backend).await;
    let mut runs = Vec::new();
    for (db, handler) in [(&alone.db, &one_by_one), (&together.db, &at_once)] {
        let registrations: Vec<Envelope> = (0..6)
            .map(|i| {
                let (ev, _) = registered(i, "620802001001", Source::Police);
                Envelope::new("intake", EventKind::CaseRegistered, &ev)
            })
            .collect();
        apply_together(db, handler, &registrations).await;
        // case-02 was received and accepted before; case-01's and case-02's referrals are stuck.
        let before = [
            moved(db, "case-02", ReferralReceived, Requested, Received).await,
            moved(db, "case-02", ReferralAccepted, Received, Accepted).await,
        ];
        apply_one_by_one(db, handler, &before).await;
        let mut tx = db.begin().await.unwrap();
        for case in ["case-01", "case-02"] {
            let referral = moved(db, case, ReferralReceived, Requested, Received).await;
            let subject = referral.decode::<ReferralStateChanged>().unwrap().referral_id;
            alarms::raise(&mut tx, case, AlarmKind::StuckCase, &subject, "no answer", 1).await.unwrap();
        }
        tx.commit().await.unwrap();
        // Two runs of receipts around an acceptance; case-01's receipt comes twice and
        // case-02's late (it is accepted already).
        runs.push(vec![
            moved(db, "case-00", ReferralReceived, Requested, Received).await,
            moved(db, "case-01", ReferralReceived, Requested, Received).await,
            moved(db, "case-01", ReferralReceived, Requested, Received).await,
            moved(db, "case-00", ReferralAccepted, Received, Accepted).await,
            moved(db, "case-02", ReferralReceived, Requested, Received).await,
            moved(db, "case-03", ReferralReceived, Requested, Received).await,
            moved(db, "case-04", ReferralReceived, Requested, Received).await,
        ]);
    }
    apply_one_by_one(&alone.db, &one_by_one, &runs[0]).await;
    apply_together(&together.db, &at_once, &runs[1]).await;

    let rows = outcome(&together.db).await;
    let state_of = |case: &str| rows.iter().find(|r| r.starts_with(&format!("{case} | "))).unwrap().clone();
    assert_eq!(state_of("case-00"), "case-00 | 3 | case-00 REFERRAL_STATE_ACCEPTED", "{rows:#?}");
    assert_eq!(state_of("case-01"), "case-01 | 2 | case-01 REFERRAL_STATE_RECEIVED", "{rows:#?}");
    assert_eq!(state_of("case-02"), "case-02 | 3 | case-02 REFERRAL_STATE_ACCEPTED", "a late receipt changes nothing");
    assert_eq!(state_of("case-04"), "case-04 | 2 | case-04 REFERRAL_STATE_RECEIVED", "{rows:#?}");
    assert_eq!(state_of("case-05"), "case-05 | 1 | ", "{rows:#?}");
    assert!(
        rows.contains(&"case-01 | STUCK_CASE | cleared".to_string()),
        "a receipt clears its stuck alarm: {rows:#?}"
    );
    assert!(rows.contains(&"case-02 | STUCK_CASE | cleared".to_string()), "{rows:#?}");
    assert_eq!(rows, outcome(&alone.db).await, "together and one by one differ");
    alone.finish().await;
    together.finish().await;
}

#[tokio::test]
async fn on_sqlite_receipts_followed_together_leave_what_one_by_one_leaves() {
    receipts_together_leave_what_one_by_one_leaves(Backend::Sqlite).await;
}

#[tokio::test]
async fn on_postgres_receipts_followed_together_leave_what_one_by_one_leaves() {
    receipts_together_leave_what_one_by_one_leaves(Backend::Postgres).await;
}

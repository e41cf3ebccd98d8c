//! Requested referrals received together (a consumer lane's batch) leave the
//! same inbox rows and the same announcements as received one by one — a
//! referral already there (a redelivery, or cancelled before it arrived) stays
//! as it is and is not announced — on SQLite and on PostgreSQL.

use std::sync::Arc;

use fengqiao_mediation::{GrpcPeers, Mediation, MediationService};
use fengqiao_platform::component::{Component, PLATFORM_MIGRATIONS};
use fengqiao_platform::outbox::OutboxNotifier;
use fengqiao_platform::testing::TestDatabase;
use fengqiao_platform::{migrate, Backend};
use fengqiao_proto::fengqiao::events::v1::{ReferralRequested, ReferralStateChanged};
use fengqiao_proto::fengqiao::intake::v1::intake_service_client::IntakeServiceClient;
use fengqiao_proto::fengqiao::routing::v1::routing_service_client::RoutingServiceClient;
use prost::Message;
use sqlx::Row;

async fn mediation(backend: Backend) -> (TestDatabase, MediationService) {
    let test_db = TestDatabase::new(backend, "mediation").await.unwrap();
    let mut all = PLATFORM_MIGRATIONS.to_vec();
    all.extend_from_slice(Mediation::MIGRATIONS);
    migrate::run(&test_db.db, &all).await.unwrap();
    // Receiving asks no other service.
    let channel = || {
        fengqiao_platform::grpc_trace::TracedChannel::new(
            tonic::transport::Endpoint::from_static("http://127.0.0.1:9").connect_lazy(),
        )
    };
    let peers =
        GrpcPeers { intake: IntakeServiceClient::new(channel()), routing: RoutingServiceClient::new(channel()) };
    let service =
        MediationService::new(test_db.db.clone(), OutboxNotifier::default(), Arc::new(peers), Default::default());
    (test_db, service)
}

fn requested(i: usize) -> ReferralRequested {
    ReferralRequested {
        case_id: format!("case-{i}"),
        referral_id: format!("referral-{i}"),
        org_id: format!("village-{}", i % 2),
        sender: "police-620802-dongguan".into(),
        case_no: format!("620802-2026-{i:06}"),
        risk_level: (i % 3) as i32,
        ..Default::default()
    }
}

/// The inbox rows and the announcements, without the times and event ids each run makes.
async fn outcome(db: &fengqiao_platform::Database) -> (Vec<String>, Vec<String>) {
    let rows = sqlx::query(
        "SELECT referral_id, case_id, case_no, org_id, sender, state, risk_level FROM referrals ORDER BY referral_id",
    )
    .fetch_all(db.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| {
        format!(
            "{} {} {} {} {} state={} risk={}",
            r.get::<String, _>("referral_id"),
            r.get::<String, _>("case_id"),
            r.get::<String, _>("case_no"),
            r.get::<String, _>("org_id"),
            r.get::<String, _>("sender"),
            r.get::<i32, _>("state"),
            r.get::<i32, _>("risk_level"),
        )
    })
    .collect();
    let events = sqlx::query("SELECT event_type, case_id, payload FROM fq_outbox ORDER BY id")
        .fetch_all(db.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let changed = ReferralStateChanged::decode(r.get::<Vec<u8>, _>("payload").as_slice()).unwrap();
            format!("{} {} {changed:?}", r.get::<String, _>("event_type"), r.get::<String, _>("case_id"))
        })
        .collect();
    (rows, events)
}

async fn receiving_together_leaves_what_one_by_one_leaves(backend: Backend) {
    // referral-1 is already there; referral-3 comes twice.
    let batch: Vec<ReferralRequested> = [0, 1, 2, 3, 3, 4].into_iter().map(requested).collect();
    let (alone, one_by_one) = mediation(backend).await;
    let (together, at_once) = mediation(backend).await;
    for (db, service) in [(&alone.db, &one_by_one), (&together.db, &at_once)] {
        let mut tx = db.begin().await.unwrap();
        service.receive(&mut tx, &requested(1)).await.unwrap();
        tx.commit().await.unwrap();
    }
    for r in &batch {
        let mut tx = alone.db.begin().await.unwrap();
        one_by_one.receive(&mut tx, r).await.unwrap();
        tx.commit().await.unwrap();
    }
    let mut tx = together.db.begin().await.unwrap();
    at_once.receive_all(&mut tx, &batch).await.unwrap();
    tx.commit().await.unwrap();

    let (rows, events) = outcome(&together.db).await;
    assert_eq!(rows.len(), 5, "one row a referral: {rows:#?}");
    assert!(rows.iter().all(|r| r.contains("state=2")), "each RECEIVED: {rows:#?}");
    let received: Vec<&str> = events.iter().map(|e| e.split(' ').nth(1).unwrap()).collect();
    assert_eq!(received, ["case-1", "case-0", "case-2", "case-3", "case-4"], "each announced once, in order");
    assert!(events.iter().all(|e| e.starts_with("fq.v1.referral.received ")));
    assert_eq!((rows, events), outcome(&alone.db).await, "together and one by one differ");
    alone.finish().await;
    together.finish().await;
}

#[tokio::test]
async fn on_sqlite_referrals_received_together_leave_what_one_by_one_leaves() {
    receiving_together_leaves_what_one_by_one_leaves(Backend::Sqlite).await;
}

#[tokio::test]
async fn on_postgres_referrals_received_together_leave_what_one_by_one_leaves() {
    receiving_together_leaves_what_one_by_one_leaves(Backend::Postgres).await;
}

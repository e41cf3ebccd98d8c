//! Moves of a referral delivered late — a delivery retried after a crash while
//! the later moves went through — change no record: not routing's copy of the
//! referral or its clocks, not the court's record of the delegation, not the
//! agency's status. (The chaos run found the agency's status going back; the
//! same shape was in every projection that keeps a referral's state.)

use std::time::Duration;

use fengqiao_platform::bus::{Envelope, EventBus, NatsBus};
use fengqiao_proto::fengqiao::common::v1::{MediationOutcome, ReferralState, Source};
use fengqiao_proto::fengqiao::events::v1::{ReferralRequested, ReferralStateChanged};
use fengqiao_proto::EventKind;
use fengqiao_tests::scenario::*;
use fengqiao_tests::system::{Mode, System};

/// What each component holds of the case's referral.
#[derive(Debug, PartialEq, Eq)]
struct Records {
    routing_state: i32,
    open_clocks: i64,
    court_referral: String,
    court_state: i32,
    agency_state: i32,
    agency_outcome: i32,
}

async fn records(pool: &sqlx::PgPool, court: &AgencySession, case_id: &str, referral_id: &str) -> Records {
    let routing_state = sqlx::query_scalar("SELECT state FROM routing.referrals WHERE referral_id = $1")
        .bind(referral_id)
        .fetch_one(pool)
        .await
        .unwrap();
    let open_clocks = sqlx::query_scalar("SELECT COUNT(*) FROM routing.clocks WHERE case_id = $1 AND ended_at IS NULL")
        .bind(case_id)
        .fetch_one(pool)
        .await
        .unwrap();
    let (court_referral, court_state) =
        sqlx::query_as("SELECT referral_id, referral_state FROM court_linkage.delegations WHERE case_id = $1")
            .bind(case_id)
            .fetch_one(pool)
            .await
            .unwrap();
    let status = court.status(case_id).await.unwrap();
    Records {
        routing_state,
        open_clocks,
        court_referral,
        court_state,
        agency_state: status.referral_state,
        agency_outcome: status.outcome,
    }
}

/// Waits until the component of `schema` has taken `event_ids`.
async fn taken(pool: &sqlx::PgPool, schema: &str, event_ids: &[&str]) {
    let sql = format!("SELECT COUNT(*) FROM {schema}.fq_inbox WHERE event_id = ANY($1)");
    let ids: Vec<String> = event_ids.iter().map(|s| s.to_string()).collect();
    let done = fengqiao_platform::testing::eventually(Duration::from_secs(30), || {
        let (sql, ids) = (sql.clone(), ids.clone());
        async move {
            let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(ids).fetch_one(pool).await.unwrap_or(0);
            n == event_ids.len() as i64
        }
    })
    .await;
    assert!(done, "{schema} did not take the late deliveries within 30 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moves_delivered_late_change_no_record_of_a_concluded_case() {
    let system = System::start(Mode::Distributed).await.unwrap();
    let court = AgencySession::connect(&system, COURT).await;
    let office = Staff::connect(&system, COURT_OFFICE_ORG).await;
    let submitted = court.submit(dispute(Source::CourtPreLitigation, "(2026)甘0802民诉前调777号")).await.unwrap();
    let case_id = submitted.status.unwrap().case_id;
    let item = office.mediate(&case_id, MediationOutcome::Agreement).await;
    let completed = ReferralState::Completed as i32;
    court.wait_for(&case_id, "COMPLETED", |s| s.referral_state == completed && s.outcome != 0).await;
    let pool = sqlx::PgPool::connect(&system.database_url().unwrap()).await.unwrap();
    let settled = fengqiao_platform::testing::eventually(Duration::from_secs(30), || {
        let (pool, court, case_id, referral) = (&pool, &court, &case_id, &item.referral_id);
        async move {
            let r = records(pool, court, case_id, referral).await;
            r.routing_state == completed && r.court_state == completed
        }
    })
    .await;
    assert!(settled, "every record shows the referral COMPLETED");
    let before = records(&pool, &court, &case_id, &item.referral_id).await;

    // The case's request and its receipt, as if their first deliveries had
    // been lost to a crash: new deliveries, after the conclusion.
    let bus = NatsBus::connect(&system.bus_settings()).await.unwrap();
    let request = ReferralRequested {
        case_id: case_id.clone(),
        referral_id: item.referral_id.clone(),
        org_id: item.org_id.clone(),
        ..Default::default()
    };
    let receipt = ReferralStateChanged {
        case_id: case_id.clone(),
        referral_id: item.referral_id.clone(),
        from_state: ReferralState::Requested as i32,
        to_state: ReferralState::Received as i32,
        ..Default::default()
    };
    let late = [
        Envelope::new("routing", EventKind::ReferralRequested, &request),
        Envelope::new("mediation", EventKind::ReferralReceived, &receipt),
    ];
    for envelope in &late {
        bus.publish(envelope).await.unwrap().await.unwrap();
    }
    // Routing makes requests and follows moves; the court's record and the agency's status follow both.
    taken(&pool, "routing", &[&late[1].id]).await;
    for schema in ["court_linkage", "gateway"] {
        taken(&pool, schema, &[&late[0].id, &late[1].id]).await;
    }

    let after = records(&pool, &court, &case_id, &item.referral_id).await;
    assert_eq!(after, before, "a late move changed a record");
    system.finish().await;
}

//! `fengqiao seed` adds history to a running distributed system: every row a
//! real concluded case left, cloned with fresh ids, so the tables grow the way
//! years of cases would — and the system goes on working on top of them.

use fengqiao_proto::fengqiao::common::v1::{ReferralState, Source};
use fengqiao_tests::scenario::*;
use fengqiao_tests::system::{Mode, System};

async fn count(url: &str, sql: &str) -> i64 {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let n = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_string())).fetch_one(&pool).await.unwrap();
    pool.close().await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeding_clones_a_concluded_case_with_fresh_ids_and_the_system_keeps_working() {
    let system = System::start(Mode::Distributed).await.unwrap();
    let url = system.database_url().unwrap();
    for run in 1..=2 {
        let out = system.cli(&["seed", "--cases", "40", "--batch", "15"]);
        assert!(out.status.success(), "seed run {run}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stderr).contains("seeded 40 cases"));
    }
    // Two template cases and 2 × 40 clones, each with its own id everywhere.
    assert_eq!(count(&url, "SELECT COUNT(*) FROM intake.cases").await, 82);
    assert_eq!(count(&url, "SELECT COUNT(DISTINCT case_id) FROM routing.referrals").await, 82);
    assert_eq!(count(&url, "SELECT COUNT(DISTINCT referral_id) FROM mediation.referrals").await, 82);
    assert_eq!(count(&url, "SELECT COUNT(*) FROM gateway.case_status").await, 82);
    assert_eq!(count(&url, "SELECT COUNT(*) FROM gateway.case_owners").await, 82, "each clone has its owner row");
    let concluded = count(&url, "SELECT COUNT(DISTINCT referral_id) FROM mediation.conclusions").await;
    assert_eq!(concluded, 82, "history is concluded cases");
    let unpublished = count(&url, "SELECT COUNT(*) FROM intake.fq_outbox WHERE sent_at IS NULL").await;
    assert_eq!(unpublished, 0, "clones are history, not events to publish");

    // A new case still goes through, and the audit chain still verifies.
    let police = AgencySession::connect(&system, POLICE).await;
    let case_id = police.submit(dispute(Source::Police, "JQ620802-2026-0990")).await.unwrap().status.unwrap().case_id;
    police.wait_for(&case_id, "RECEIVED", in_state(ReferralState::Received)).await;
    let verify = system.cli(&["audit", "verify"]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
    system.finish().await;
}

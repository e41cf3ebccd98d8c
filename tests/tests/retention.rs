//! Bookkeeping does not grow forever: a component removes outbox rows it
//! published long ago and inbox receipts of events the broker no longer holds
//! (at start and hourly) — and goes on working, its cases untouched.

use std::time::{Duration, Instant};

use fengqiao_proto::fengqiao::common::v1::{ReferralState, Source};
use fengqiao_tests::scenario::*;
use fengqiao_tests::system::{Mode, System};

async fn count(pool: &sqlx::PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_removes_month_old_sent_events_and_receipts_at_start_and_keeps_its_cases() {
    let mut system = System::start(Mode::Distributed).await.unwrap();
    let pool = sqlx::PgPool::connect(&system.database_url().unwrap()).await.unwrap();
    let police = AgencySession::connect(&system, POLICE).await;
    let first = police.submit(dispute(Source::Police, "JQ620802-2026-0801")).await.unwrap().status.unwrap().case_id;
    police.wait_for(&first, "RECEIVED", in_state(ReferralState::Received)).await;
    let sent = count(&pool, "SELECT COUNT(*) FROM routing.fq_outbox WHERE sent_at IS NOT NULL").await;
    let receipts = count(&pool, "SELECT COUNT(*) FROM routing.fq_inbox").await;
    assert!(sent > 0 && receipts > 0, "routing published {sent} events and applied {receipts}");

    // A month passes for routing's bookkeeping while it is down.
    system.kill("routing");
    let month = 30 * 24 * 3_600_000_000i64;
    for sql in [
        "UPDATE routing.fq_outbox SET sent_at = sent_at - $1, created_at = created_at - $1 WHERE sent_at IS NOT NULL",
        "UPDATE routing.fq_inbox SET processed_at = processed_at - $1",
    ] {
        sqlx::query(sql).bind(month).execute(&pool).await.unwrap();
    }
    system.restart("routing").unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let old: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM routing.fq_outbox WHERE sent_at < $1)
                  + (SELECT COUNT(*) FROM routing.fq_inbox WHERE processed_at < $1)",
        )
        .bind(fengqiao_platform::db::now_micros() - month / 2)
        .fetch_one(&pool)
        .await
        .unwrap();
        if old == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{old} month-old outbox and inbox rows still in routing after 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The case itself stays, and a new one goes through the restarted routing.
    assert_eq!(count(&pool, "SELECT COUNT(*) FROM routing.referrals").await, 1);
    let second = police.submit(dispute(Source::Police, "JQ620802-2026-0802")).await.unwrap().status.unwrap().case_id;
    police.wait_for(&second, "RECEIVED", in_state(ReferralState::Received)).await;
    assert_eq!(count(&pool, "SELECT COUNT(*) FROM routing.referrals").await, 2);
    assert!(count(&pool, "SELECT COUNT(*) FROM routing.fq_inbox").await > 0, "new receipts are kept");
    pool.close().await;
    system.finish().await;
}

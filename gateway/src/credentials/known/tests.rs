//! Credentials are kept only while every change to them is heard of.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fengqiao_platform::db::{now_micros, Backend};
use sqlx::Executor;
use tokio_util::sync::CancellationToken;

use super::{Found, Known};
use crate::credentials::find;
use crate::credentials::store::{self, Credential, Kind};
use crate::store::Agency;

const POLICE: &str = "police-620802-dongguan";

fn found(id: &str) -> Found {
    let credential = Credential {
        credential_id: id.into(),
        agency_id: POLICE.into(),
        kind: "token-key".into(),
        public_key: "pem".into(),
        not_after: i64::MAX,
        created_at: 0,
        revoked_at: None,
        revoked_reason: String::new(),
    };
    let agency = Agency {
        agency_id: POLICE.into(),
        kind: "police".into(),
        name: "东关派出所".into(),
        division_code: "620802001".into(),
    };
    (credential, agency, false)
}

#[test]
fn a_find_is_kept_only_while_listening_and_only_if_nothing_was_heard_since_its_lookup_began() {
    let known = Known::default();
    // Not listening (not yet subscribed, or SQLite): nothing is kept.
    let ticket = known.ticket();
    known.keep(ticket, "k1", &found("k1"));
    assert_eq!(known.get("k1"), None);

    known.forget_all(true);
    let ticket = known.ticket();
    known.keep(ticket, "k1", &found("k1"));
    assert_eq!(known.get("k1"), Some(found("k1")));

    // A change heard of while a lookup was under way: its find may predate it.
    let ticket = known.ticket();
    known.forget_all(true);
    known.keep(ticket, "k2", &found("k2"));
    assert_eq!(known.get("k2"), None);
    assert_eq!(known.get("k1"), None, "a change forgets everything kept");

    // Listening lost: nothing kept is used, and a lookup begun before is not kept.
    let ticket = known.ticket();
    known.keep(ticket, "k3", &found("k3"));
    known.forget_all(false);
    assert_eq!(known.get("k3"), None);
    known.keep(ticket, "k3", &found("k3"));
    assert_eq!(known.get("k3"), None);
}

/// A gateway database with the demo agencies and the token key `kid`.
async fn registry(kid: &str) -> fengqiao_platform::testing::TestDatabase {
    let test = crate::test_database(Backend::Postgres).await;
    let mut conn = test.db.pool().acquire().await.unwrap();
    crate::store::seed_demo_agencies(&mut conn, now_micros()).await.unwrap();
    store::add(&mut conn, kid, POLICE, Kind::TokenKey, "pem", i64::MAX, now_micros()).await.unwrap();
    test
}

/// Starts `known` listening to `test`'s database and waits until it is subscribed.
async fn listening(known: &Arc<Known>, test: &fengqiao_platform::testing::TestDatabase) -> CancellationToken {
    let stop = CancellationToken::new();
    let (k, s, url) = (known.clone(), stop.clone(), test.db.postgres_url().expect("PostgreSQL"));
    tokio::spawn(async move { k.listen(url, Duration::from_millis(50), s).await });
    until(|| known.is_listening(), "subscribed").await;
    stop
}

async fn until(done: impl Fn() -> bool, what: &str) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(10), "not {what} within 10 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn on_postgres_a_revocation_or_a_disabled_agency_is_seen_by_the_next_call_after_it_is_heard_of() {
    let test = registry("tk-1").await;
    let known = Arc::new(Known::default());
    let stop = listening(&known, &test).await;
    let first = find(&test.db, &known, "tk-1").await.unwrap().expect("registered");
    assert_eq!(known.get("tk-1"), Some(first), "kept while listening");

    let mut conn = test.db.pool().acquire().await.unwrap();
    assert!(store::revoke(&mut conn, "tk-1", "rotated", now_micros()).await.unwrap());
    until(|| known.get("tk-1").is_none(), "forgotten after the revocation").await;
    let (credential, _, _) = find(&test.db, &known, "tk-1").await.unwrap().unwrap();
    assert!(credential.revoked_at.is_some(), "the next lookup reads the revocation");

    // Any change, even an operator's own SQL on the agencies, is heard of.
    assert!(known.get("tk-1").is_some());
    conn.execute(sqlx::AssertSqlSafe(format!("UPDATE agencies SET disabled_at = 1 WHERE agency_id = '{POLICE}'")))
        .await
        .unwrap();
    until(|| known.get("tk-1").is_none(), "forgotten after the agency changed").await;
    let (_, _, disabled) = find(&test.db, &known, "tk-1").await.unwrap().unwrap();
    assert!(disabled);
    stop.cancel();
    drop(conn);
    test.finish().await;
}

#[tokio::test]
async fn on_postgres_a_lost_listening_connection_forgets_everything_and_listens_again() {
    let test = registry("tk-1").await;
    let known = Arc::new(Known::default());
    let stop = listening(&known, &test).await;
    find(&test.db, &known, "tk-1").await.unwrap().expect("registered");
    assert!(known.get("tk-1").is_some());
    // Cut the listening connection: what changes until it is back goes unheard.
    let cut = sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()",
    )
    .fetch_all(test.db.pool())
    .await
    .unwrap();
    assert_eq!(cut.len(), 1, "one listening connection");
    until(|| known.get("tk-1").is_none(), "forgotten when the connection was lost").await;
    until(|| known.is_listening(), "listening again").await;
    // Subscribed again: changes are heard of once more.
    find(&test.db, &known, "tk-1").await.unwrap();
    until(|| known.get("tk-1").is_some(), "kept again").await;
    let mut conn = test.db.pool().acquire().await.unwrap();
    store::revoke(&mut conn, "tk-1", "stolen", now_micros()).await.unwrap();
    until(|| known.get("tk-1").is_none(), "forgotten after the revocation").await;
    stop.cancel();
    drop(conn);
    test.finish().await;
}

#[tokio::test]
async fn on_sqlite_every_call_looks_its_credential_up() {
    let test = crate::test_database(Backend::Sqlite).await;
    assert_eq!(test.db.postgres_url(), None, "no listener on SQLite");
    let mut conn = test.db.writer().acquire().await.unwrap();
    crate::store::seed_demo_agencies(&mut conn, now_micros()).await.unwrap();
    store::add(&mut conn, "tk-1", POLICE, Kind::TokenKey, "pem", i64::MAX, now_micros()).await.unwrap();
    let known = Known::default();
    find(&test.db, &known, "tk-1").await.unwrap().expect("registered");
    assert_eq!(known.get("tk-1"), None);
    store::revoke(&mut conn, "tk-1", "rotated", now_micros()).await.unwrap();
    let (credential, _, _) = find(&test.db, &known, "tk-1").await.unwrap().unwrap();
    assert!(credential.revoked_at.is_some());
    drop(conn);
    test.finish().await;
}

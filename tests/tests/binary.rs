//! The `fengqiao` binary as a newcomer and an operator meet it.

use std::time::Duration;

use fengqiao_platform::testing;
use fengqiao_tests::{command, health, reflected_services, Process};
use tonic_health::pb::health_check_response::ServingStatus;

const COMPONENTS: [&str; 7] =
    ["gateway", "intake", "routing", "mediation", "court-linkage", "petition-linkage", "console"];

#[tokio::test]
async fn standalone_with_no_configuration_answers_health_and_lists_services_by_reflection() {
    let dir = tempfile::tempdir().unwrap();
    // No configuration at all: the default ports and ./fengqiao-data. The
    // kernel may lend a default port (inside its ephemeral range) to another
    // test's outgoing connection for a moment: wait until all are free.
    let free = || (50050..=50055).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok());
    for _ in 0..100 {
        if free() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut process = Process::start(command(dir.path()), COMPONENTS.len()).unwrap();
    for name in COMPONENTS {
        let addr = process.addresses[name];
        assert_eq!(health(addr).await.unwrap(), ServingStatus::Serving, "{name}");
        let services = reflected_services(addr).await.unwrap();
        assert!(services.contains(&"grpc.health.v1.Health".to_string()), "{name}: {services:?}");
        assert!(dir.path().join("fengqiao-data").join(format!("{}.sqlite", name.replace('-', "_"))).exists());
    }
    // `fengqiao health`, the container health check, agrees; an unknown service is not served.
    for (args, ok) in
        [(vec!["intake"], true), (vec!["routing", "--service", "liveness"], true), (vec!["--service", "nope"], false)]
    {
        let out = command(dir.path()).arg("health").args(&args).output().unwrap();
        assert_eq!(out.status.success(), ok, "health {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(process.terminate(Duration::from_secs(5)).await.unwrap().success());
}

#[tokio::test]
async fn sigterm_stops_standalone_cleanly_and_a_restart_reuses_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let start = || {
        let mut cmd = command(dir.path());
        cmd.arg("standalone");
        for name in COMPONENTS {
            cmd.env(format!("FENGQIAO_{}__LISTEN", name.replace('-', "_").to_uppercase()), "127.0.0.1:0");
        }
        Process::start(cmd, COMPONENTS.len()).unwrap()
    };
    let mut first = start();
    let status = first.terminate(Duration::from_secs(5)).await.unwrap();
    assert!(status.success(), "exit status {status:?}");
    let mut second = start();
    assert_eq!(health(second.addresses["intake"]).await.unwrap(), ServingStatus::Serving);
    assert!(second.terminate(Duration::from_secs(5)).await.unwrap().success());
}

#[test]
fn serve_without_postgres_and_nats_refuses_and_says_what_to_set() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path()).args(["serve", "intake"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("FENGQIAO_DATABASE__URL") && stderr.contains("FENGQIAO_BUS__NATS_URL"), "{stderr}");
}

#[test]
fn a_bad_configuration_value_names_its_key_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path()).env("FENGQIAO_BUS__MAX_DELIVERIES", "0").arg("migrate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bus.max_deliveries"), "{stderr}");
}

#[tokio::test]
async fn serve_runs_a_component_on_postgres_and_nats_in_its_own_schema() {
    let dir = tempfile::tempdir().unwrap();
    let (url, db_name) = testing::create_postgres_database().await.unwrap();
    let settings = testing::settings();
    let stream = settings.bus.stream.clone();
    let mut cmd = command(dir.path());
    cmd.args(["serve", "court-linkage"])
        .env("FENGQIAO_DATABASE__URL", &url)
        .env("FENGQIAO_BUS__NATS_URL", testing::nats_url())
        .env("FENGQIAO_BUS__STREAM", &stream)
        .env("FENGQIAO_BUS__SUBJECT_PREFIX", &settings.bus.subject_prefix)
        .env("FENGQIAO_COURT_LINKAGE__LISTEN", "127.0.0.1:0");
    let mut process = Process::start(cmd, 1).unwrap();
    let addr = process.addresses["court-linkage"];
    assert_eq!(health(addr).await.unwrap(), ServingStatus::Serving);
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'court_linkage' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(tables.contains(&"fq_outbox".to_string()), "{tables:?}");
    assert!(tables.contains(&"fq_schema_migrations".to_string()), "{tables:?}");
    pool.close().await;
    assert!(process.terminate(Duration::from_secs(5)).await.unwrap().success());
    let mut s = settings;
    s.bus.nats_url = testing::nats_url();
    testing::finish_bus(&s).await;
    testing::drop_postgres_database(&db_name).await;
}

#[tokio::test]
async fn migrate_applies_each_components_migrations_once() {
    let dir = tempfile::tempdir().unwrap();
    let (url, db_name) = testing::create_postgres_database().await.unwrap();
    let run = || {
        let out = command(dir.path()).arg("migrate").env("FENGQIAO_DATABASE__URL", &url).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    // `<component> <applied> applied, <already> already applied`
    let counts = |out: &str, name: &str| -> (u32, u32) {
        let line = out.lines().find(|l| l.split_whitespace().next() == Some(name)).expect(name);
        let n: Vec<u32> = line.split_whitespace().filter_map(|w| w.trim_end_matches(',').parse().ok()).collect();
        (n[0], n[1])
    };
    let first = run();
    let second = run();
    for name in COMPONENTS {
        let (applied, already) = counts(&first, name);
        assert!(applied >= 2 && already == 0, "{name}: platform and own migrations applied once\n{first}");
        assert_eq!(counts(&second, name), (0, applied), "{name}: nothing applied twice\n{second}");
    }
    testing::drop_postgres_database(&db_name).await;
}

//! deploy/local/up.sh and down.sh start and stop the distributed stack.

use std::path::PathBuf;
use std::process::Command;

use fengqiao_platform::testing;
use fengqiao_tests::{binary, free_ports, health, system::COMPONENTS};
use tonic_health::pb::health_check_response::ServingStatus;

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/local").join(name)
}

/// Runs down.sh when dropped, so a failing test leaves no process behind.
struct StopOnDrop(PathBuf);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(script("down.sh")).env("FENGQIAO_RUN_DIR", &self.0).output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_scripts_start_every_component_on_postgres_and_nats_and_stop_them() {
    let run_dir = tempfile::tempdir().unwrap();
    let (url, db_name) = testing::create_postgres_database().await.unwrap();
    let mut settings = testing::settings();
    settings.bus.nats_url = testing::nats_url();
    let mut cmd = Command::new("bash");
    cmd.arg(script("up.sh"))
        .env("FENGQIAO_BIN", binary())
        .env("FENGQIAO_RUN_DIR", run_dir.path())
        .env("FENGQIAO_DATABASE__URL", &url)
        .env("FENGQIAO_BUS__NATS_URL", &settings.bus.nats_url)
        .env("FENGQIAO_BUS__STREAM", &settings.bus.stream)
        .env("FENGQIAO_BUS__SUBJECT_PREFIX", &settings.bus.subject_prefix)
        .env("FENGQIAO_TELEMETRY__LOG_FILTER", "warn")
        .env("FENGQIAO_METRICS_PORT_BASE", "0");
    // Whatever happens below, the processes up.sh started are stopped.
    let _down = StopOnDrop(run_dir.path().to_path_buf());
    // A free port can be taken by a parallel test between choosing and
    // binding it: then stop what started and try again on other ports.
    let mut attempt = 0;
    let (ports, up) = loop {
        attempt += 1;
        let ports = free_ports(COMPONENTS.len());
        for (c, port) in COMPONENTS.iter().zip(&ports) {
            cmd.env(format!("FENGQIAO_{}__LISTEN", c.replace('-', "_").to_uppercase()), format!("127.0.0.1:{port}"));
        }
        let up = cmd.output().unwrap();
        let taken = String::from_utf8_lossy(&up.stderr).contains("Address already in use");
        if up.status.success() || !taken || attempt == 3 {
            break (ports, up);
        }
        let _ = Command::new("bash").arg(script("down.sh")).env("FENGQIAO_RUN_DIR", run_dir.path()).output();
    };
    assert!(
        up.status.success(),
        "up.sh: {}{}",
        String::from_utf8_lossy(&up.stdout),
        String::from_utf8_lossy(&up.stderr)
    );
    for (c, port) in COMPONENTS.iter().zip(&ports) {
        let addr = format!("127.0.0.1:{port}").parse().unwrap();
        assert_eq!(health(addr).await.unwrap(), ServingStatus::Serving, "{c}");
        // Each process says where it serves metrics, and serves them there.
        let log = std::fs::read_to_string(run_dir.path().join(format!("{c}.log"))).unwrap();
        let url = log.lines().find(|l| l.contains("metrics on")).and_then(|l| l.split_whitespace().last());
        let url = url.unwrap_or_else(|| panic!("{c} printed no metrics address:\n{log}"));
        let series = format!("fengqiao_outbox_backlog{{component=\"{c}\"}}");
        let mut text = String::new();
        for _ in 0..50 {
            text = fengqiao_tests::http_client().get(url).send().await.unwrap().text().await.unwrap();
            if text.contains(&series) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(text.contains(&series), "{c}: {text}");
    }
    let down = Command::new("bash").arg(script("down.sh")).env("FENGQIAO_RUN_DIR", run_dir.path()).output().unwrap();
    assert!(down.status.success());
    assert!(String::from_utf8_lossy(&down.stdout).contains("stopped 7 process(es)"));
    for port in ports {
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "port {port} still open");
    }
    testing::finish_bus(&settings).await;
    testing::drop_postgres_database(&db_name).await;
}

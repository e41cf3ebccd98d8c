//! Intake's start: it serves only once the division codes are parsed, so the
//! first registration does not wait behind a port that already said ready.

use fengqiao_intake::Intake;
use fengqiao_platform::testing::{self, BusKind};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn intake_serves_only_once_the_division_codes_are_parsed() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = testing::settings();
    settings.standalone = true;
    settings.data_dir = dir.path().to_path_buf();
    settings.component_mut("intake").unwrap().listen = "127.0.0.1:0".parse().unwrap();
    let bus = testing::bus(BusKind::Memory, &mut settings).await.unwrap();
    // Each test runs in its own process under nextest: nothing has parsed them yet.
    assert!(!fengqiao_regions::loaded(), "the codes were parsed before intake started");
    let running = fengqiao_platform::component::build::<Intake>(settings, bus, CancellationToken::new()).await.unwrap();
    assert!(fengqiao_regions::loaded(), "intake serves while the division codes are still being parsed");
    running.stop().await;
}

//! `fengqiao serve <component>`: one component per process (distributed mode).

use fengqiao_platform::component::shutdown_on_signal;
use fengqiao_platform::{admin, bus, telemetry, Settings};

use crate::components;

/// Runs one component until SIGINT/SIGTERM.
pub async fn serve(settings: Settings, name: &str) -> anyhow::Result<()> {
    let component = components::find(name).ok_or_else(|| anyhow::anyhow!("no component {name}"))?;
    if !settings.uses_postgres() || settings.bus.nats_url.is_empty() {
        anyhow::bail!(
            "`serve {name}` is distributed mode: set FENGQIAO_DATABASE__URL (postgres://…) and \
             FENGQIAO_BUS__NATS_URL (nats://…), or run `fengqiao standalone` for everything in one process"
        );
    }
    let _telemetry = telemetry::init(&format!("fengqiao-{name}"), &settings.telemetry)?;
    let shutdown = shutdown_on_signal();
    let metrics_tasks = tokio_util::task::TaskTracker::new();
    let metrics = admin::serve(&settings.telemetry, &metrics_tasks, shutdown.child_token()).await?;
    let bus = bus::connect(&settings.bus).await?;
    let running = (component.build)(settings, bus, shutdown).await?;
    // Metrics first: whoever reads this output may stop at the listening line.
    if let Some(addr) = metrics {
        println!("fengqiao {name} metrics on http://{addr}/metrics");
    }
    println!("fengqiao {name} listening on {}", running.local_addr());
    running.run_until_stopped().await;
    Ok(())
}

//! `fengqiao serve <component>`: one component per process (distributed mode).

use fengqiao_platform::component::shutdown_on_signal;
use fengqiao_platform::{bus, telemetry, Settings};

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
    let bus = bus::connect(&settings.bus).await?;
    let running = (component.build)(settings, bus, shutdown).await?;
    println!("fengqiao {name} listening on {}", running.local_addr());
    running.run_until_stopped().await;
    Ok(())
}

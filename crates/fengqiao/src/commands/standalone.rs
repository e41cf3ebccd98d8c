//! `fengqiao standalone`: every component in one process.

use std::sync::Arc;

use fengqiao_platform::bus::{self, EventBus, MemoryBus};
use fengqiao_platform::component::shutdown_on_signal;
use fengqiao_platform::{admin, telemetry, Settings};

use crate::components;

/// Runs every component here until SIGINT/SIGTERM.
pub async fn standalone(mut settings: Settings) -> anyhow::Result<()> {
    settings.standalone = true;
    let _telemetry = telemetry::init("fengqiao", &settings.telemetry)?;
    let shutdown = shutdown_on_signal();
    let metrics_tasks = tokio_util::task::TaskTracker::new();
    let metrics = admin::serve(&settings.telemetry, &metrics_tasks, shutdown.child_token()).await?;
    // The in-process bus stays closed until every consumer has subscribed.
    let memory = settings.bus.nats_url.is_empty().then(|| MemoryBus::new_closed(&settings.bus));
    let bus: Arc<dyn EventBus> = match &memory {
        Some(memory) => Arc::new(memory.clone()),
        None => bus::connect(&settings.bus).await?,
    };
    let mut running = Vec::new();
    for component in &components::ALL {
        if component.name == "console" {
            centre_token_for_the_console(&mut settings).await?;
        }
        let started = (component.build)(settings.clone(), bus.clone(), shutdown.child_token()).await;
        match started {
            Ok(c) => {
                // Later components call this one where it really listens (over
                // TLS, by the name on its certificate, when its endpoint says https).
                if let Some(section) = settings.component_mut(component.name) {
                    section.endpoint = listening_endpoint(&section.endpoint, c.local_addr());
                }
                running.push(c);
            }
            Err(e) => {
                shutdown.cancel();
                for c in running {
                    c.stop().await;
                }
                return Err(e.context(format!("{} did not start", component.name)));
            }
        }
    }
    if let Some(memory) = &memory {
        memory.open();
    }
    let storage = if settings.uses_postgres() {
        "PostgreSQL".to_string()
    } else {
        format!("SQLite files in {}", settings.data_dir.display())
    };
    println!("fengqiao standalone is running ({storage}, {} bus). gRPC APIs:", bus.kind());
    // Metrics first: whoever reads this output may stop at the last address.
    if let Some(addr) = metrics {
        println!("  {:<18} http://{addr}/metrics", "metrics");
    }
    let mut listed: Vec<_> = running.iter().collect();
    listed.sort_by_key(|c| c.port());
    for c in listed {
        println!("  {:<18} {}", c.name(), c.local_addr());
    }
    println!("Each answers grpc.health.v1 and lists its services by gRPC reflection. Stop with Ctrl-C.");
    shutdown.cancelled().await;
    for c in running {
        c.stop().await;
    }
    Ok(())
}

/// With the demo data and no token configured, issues the console a 30-day
/// token of the demo mediation centre from the gateway's registry (the gateway
/// has started and registered it), so the console works with zero set-up.
async fn centre_token_for_the_console(settings: &mut fengqiao_platform::Settings) -> anyhow::Result<()> {
    use secrecy::ExposeSecret;
    if !settings.seed_demo() || !settings.console_access.token.expose_secret().is_empty() {
        return Ok(());
    }
    let token = super::credentials::issue(settings, &settings.console_access.agency.clone(), 30).await?;
    settings.console_access.token = secrecy::SecretString::from(token);
    Ok(())
}

/// Where a component that listens on `addr` is called: an `https://host:port`
/// endpoint keeps its scheme and host (the name on the certificate) with the
/// real port; anything else becomes `http://addr`.
fn listening_endpoint(configured: &str, addr: std::net::SocketAddr) -> String {
    match configured.strip_prefix("https://") {
        Some(rest) => {
            let authority = rest.split('/').next().unwrap_or(rest);
            let host = authority.rsplit_once(':').map_or(authority, |(host, _)| host);
            format!("https://{host}:{}", addr.port())
        }
        None => format!("http://{addr}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_https_endpoint_keeps_its_host_and_takes_the_real_port() {
        let addr: std::net::SocketAddr = "127.0.0.1:41234".parse().unwrap();
        assert_eq!(super::listening_endpoint("https://localhost:0", addr), "https://localhost:41234");
        assert_eq!(super::listening_endpoint("https://gw.example.gov.cn", addr), "https://gw.example.gov.cn:41234");
        assert_eq!(super::listening_endpoint("", addr), "http://127.0.0.1:41234");
        assert_eq!(super::listening_endpoint("http://elsewhere:1", addr), "http://127.0.0.1:41234");
    }
}

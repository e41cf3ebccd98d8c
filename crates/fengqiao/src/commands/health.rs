//! `fengqiao health`: asks a running component's grpc.health.v1 whether it
//! serves — for container health checks where no other client is installed.

use std::time::Duration;

use fengqiao_platform::Settings;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// Exits successfully when `component` (at its configured endpoint, or at
/// `addr`) answers SERVING for `service` ("" = ready, "liveness" = alive).
pub async fn health(settings: Settings, component: &str, addr: Option<String>, service: &str) -> anyhow::Result<()> {
    let url = match addr {
        Some(addr) => format!("http://{addr}"),
        None => settings.component(component).ok_or_else(|| anyhow::anyhow!("no component {component}"))?.endpoint(),
    };
    let channel = tonic::transport::Endpoint::from_shared(url.clone())?
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(3))
        .connect()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach {url}: {e}; is the component running?"))?;
    let reply =
        HealthClient::new(channel).check(HealthCheckRequest { service: service.to_string() }).await?.into_inner();
    match ServingStatus::try_from(reply.status) {
        Ok(ServingStatus::Serving) => {
            println!("{url}: SERVING");
            Ok(())
        }
        other => {
            anyhow::bail!("{url} answers {other:?} for {service:?}: it cannot reach its database or NATS; see its log")
        }
    }
}

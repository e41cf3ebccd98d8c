//! The process's admin HTTP endpoint on `telemetry.metrics_listen`:
//! `GET /metrics` (Prometheus), `GET /livez` (the process serves) and
//! `GET /readyz` (every component in it reaches its database and bus) — plain
//! HTTP on an inside port, for probes that cannot speak TLS to the gateway.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use axum::http::StatusCode;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::TelemetrySettings;
use crate::metrics;

/// Readiness of each component running in this process.
static READY: Mutex<BTreeMap<&'static str, bool>> = Mutex::new(BTreeMap::new());

/// Records whether `component` is ready (its database and bus answer).
pub fn set_ready(component: &'static str, ready: bool) {
    READY.lock().expect("readiness lock").insert(component, ready);
}

/// Forgets `component` (it stopped).
pub fn forget(component: &'static str) {
    READY.lock().expect("readiness lock").remove(component);
}

/// 200 when at least one component runs and every one is ready; else 503
/// naming those that are not.
fn readiness() -> (StatusCode, String) {
    let ready = READY.lock().expect("readiness lock");
    let waiting: Vec<&str> = ready.iter().filter(|(_, ok)| !**ok).map(|(c, _)| *c).collect();
    match (ready.is_empty(), waiting.is_empty()) {
        (true, _) => (StatusCode::SERVICE_UNAVAILABLE, "no component started yet\n".into()),
        (false, true) => (StatusCode::OK, "ready\n".into()),
        (false, false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {} (check the database and NATS; see the logs)\n", waiting.join(", ")),
        ),
    }
}

/// Serves the admin endpoint until `shutdown`; `None` when
/// `telemetry.metrics_listen` is empty. The error names the setting to change.
pub async fn serve(
    settings: &TelemetrySettings,
    tasks: &TaskTracker,
    shutdown: CancellationToken,
) -> anyhow::Result<Option<SocketAddr>> {
    if settings.metrics_listen.is_empty() {
        return Ok(None);
    }
    let addr: SocketAddr = settings.metrics_listen.parse().map_err(|e| {
        anyhow::anyhow!(
            "telemetry.metrics_listen {:?} is not an address: {e}; use host:port, e.g. 0.0.0.0:9464",
            settings.metrics_listen
        )
    })?;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot serve metrics on {addr}: {e}; free the port or set FENGQIAO_TELEMETRY__METRICS_LISTEN \
             (empty turns the endpoint off)"
        )
    })?;
    let local = listener.local_addr()?;
    let handle = metrics::recorder().clone();
    let router = axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(move || {
                let handle = handle.clone();
                async move { ([(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()) }
            }),
        )
        .route("/livez", axum::routing::get(|| async { "live\n" }))
        .route("/readyz", axum::routing::get(|| async { readiness() }));
    let upkeep = metrics::recorder().clone();
    let stop = shutdown.clone();
    tasks.spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_secs(5)) => upkeep.run_upkeep(),
            }
        }
    });
    tasks.spawn(async move {
        let served = axum::serve(listener, router).with_graceful_shutdown(shutdown.cancelled_owned());
        if let Err(e) = served.await {
            tracing::error!(error = %e, "admin endpoint stopped");
        }
    });
    Ok(Some(local))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{count_call, record, Reading, OUTBOX_BACKLOG};

    /// A plain HTTP/1.1 GET: status line, headers and body as text.
    async fn get(addr: SocketAddr, path: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
    }

    #[tokio::test]
    async fn the_endpoint_serves_metrics_with_help_and_probes_that_follow_readiness() {
        let tasks = TaskTracker::new();
        let stop = CancellationToken::new();
        let settings = TelemetrySettings { metrics_listen: "127.0.0.1:0".into(), ..Default::default() };
        let addr = serve(&settings, &tasks, stop.clone()).await.unwrap().expect("an address");
        count_call("/fengqiao.test.v1.T/Do", "OK", 0.003);
        record("intake", &[Reading::new(OUTBOX_BACKLOG, 7.0)]);
        let body = get(addr, "/metrics").await;
        assert!(body.starts_with("HTTP/1.1 200"), "{body}");
        assert!(body.contains("# HELP fengqiao_rpc_requests_total"), "{body}");
        assert!(body.contains(r#"fengqiao_rpc_requests_total{method="/fengqiao.test.v1.T/Do",code="OK"} 1"#), "{body}");
        assert!(body.contains("fengqiao_rpc_duration_seconds_bucket"), "histograms have buckets: {body}");
        assert!(body.contains(r#"fengqiao_outbox_backlog{component="intake"} 7"#), "{body}");

        assert!(get(addr, "/livez").await.starts_with("HTTP/1.1 200"));
        set_ready("test-a", true);
        set_ready("test-b", false);
        let not_ready = get(addr, "/readyz").await;
        assert!(not_ready.starts_with("HTTP/1.1 503") && not_ready.contains("test-b"), "{not_ready}");
        set_ready("test-b", true);
        assert!(get(addr, "/readyz").await.starts_with("HTTP/1.1 200"));
        forget("test-a");
        forget("test-b");
        stop.cancel();
        tasks.close();
        tasks.wait().await;
    }
}

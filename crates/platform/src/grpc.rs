//! Serving gRPC the same way in every component: grpc.health.v1, reflection
//! limited to the services actually served, graceful shutdown, and a
//! pre-bound listener (port 0 in tests).

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::service::Routes;
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

/// Binds `listen`, naming the address in the error so an operator knows which
/// setting to change.
pub async fn bind(component: &str, listen: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(listen).await.map_err(|e| {
        // The default ports lie in Linux's range for outgoing connections: one may hold the port.
        let borrowed = if e.kind() == std::io::ErrorKind::AddrInUse && listen.port() >= 32768 {
            format!(
                " (if nothing listens there, an outgoing connection holds it: reserve the port with \
                 `sysctl -w net.ipv4.ip_local_reserved_ports={}`)",
                listen.port()
            )
        } else {
            String::new()
        };
        anyhow::anyhow!(
            "{component} cannot listen on {listen}: {e}; free the port or set FENGQIAO_{}__LISTEN{borrowed}",
            component.replace('-', "_").to_uppercase()
        )
    })
}

/// The grpc.health.v1 service name a liveness probe asks for.
pub const LIVENESS: &str = "liveness";

/// How an outside-facing component is served instead of by tonic's server:
/// gRPC and HTTP on one port, optionally behind TLS (see `front.rs`).
#[derive(Clone)]
pub struct Front {
    /// TLS, with or without client certificates; plaintext if `None`.
    pub tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    /// How long open connections may finish their calls after a stop.
    pub grace: std::time::Duration,
}

/// A gRPC server running on the component's task tracker.
pub struct GrpcServer {
    /// Where it listens.
    pub local_addr: SocketAddr,
    /// Its health service, to report readiness.
    pub health: HealthReporter,
}

/// Serves `routes` plus health and reflection on `listener` until `shutdown`;
/// in-flight calls finish before the task ends. `services` are the
/// fully-qualified names of the services in `routes`.
pub async fn serve(
    listener: TcpListener,
    mut routes: Routes,
    services: &[&str],
    front: Option<Front>,
    tasks: &TaskTracker,
    shutdown: CancellationToken,
) -> anyhow::Result<GrpcServer> {
    let local_addr = listener.local_addr()?;
    let (health, health_service) = tonic_health::server::health_reporter();
    for service in services {
        health.set_service_status(*service, ServingStatus::Serving).await;
    }
    // `liveness` answers SERVING while the process serves at all; "" and each
    // service follow readiness (database and bus), so a liveness probe does
    // not restart a process that only waits for its database.
    health.set_service_status(LIVENESS, ServingStatus::Serving).await;
    let reflection = || {
        let mut builder = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(fengqiao_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .with_service_name("grpc.health.v1.Health");
        for service in services {
            builder = builder.with_service_name(*service);
        }
        builder
    };
    routes = routes
        .add_service(health_service)
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?);
    if let Some(front) = front {
        let router = routes.prepare().into_axum_router().layer(crate::grpc_trace::layer());
        crate::front::serve(listener, router, front.tls, tasks, shutdown, front.grace);
        return Ok(GrpcServer { local_addr, health });
    }
    let server = tonic::transport::Server::builder()
        .layer(crate::grpc_trace::layer())
        .add_routes(routes)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown.cancelled_owned());
    tasks.spawn(async move {
        if let Err(e) = server.await {
            tracing::error!(error = %e, "grpc server stopped with an error");
        }
    });
    Ok(GrpcServer { local_addr, health })
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_taken_port_names_the_setting_and_how_to_reserve_it() {
        let held = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let taken = held.local_addr().expect("its address");
        let e = super::bind("court-linkage", taken).await.expect_err("the port is taken").to_string();
        assert!(e.contains("FENGQIAO_COURT_LINKAGE__LISTEN"), "{e}");
        if taken.port() >= 32768 {
            assert!(e.contains(&format!("ip_local_reserved_ports={}", taken.port())), "{e}");
        }
    }
}

//! Serving an outside-facing component (the gateway): gRPC and HTTP/1.1 or
//! HTTP/2 on one port, optionally behind TLS with client certificates. The
//! client's certificates reach handlers as a [`PeerCertificates`] extension.
//! Inside components keep tonic's own server (see `grpc.rs`).

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use rustls::pki_types::CertificateDer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// The certificate chain a client presented in the TLS handshake (leaf
/// first), already verified against the configured client CA. Absent on a
/// plaintext connection or when the client sent none.
#[derive(Debug, Clone)]
pub struct PeerCertificates(pub Arc<Vec<CertificateDer<'static>>>);

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until `shutdown`, then lets open connections
/// finish their calls for up to `grace`.
pub fn serve(
    listener: TcpListener,
    router: axum::Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    tasks: &TaskTracker,
    shutdown: CancellationToken,
    grace: Duration,
) {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let connections = tasks.clone();
    tasks.spawn(async move {
        let graceful = GracefulShutdown::new();
        loop {
            let (stream, peer) = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: wait, do not spin.
                        tracing::warn!(error = %e, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            let router = router.clone();
            let acceptor = acceptor.clone();
            let watcher = graceful.watcher();
            connections.spawn(async move {
                let builder = connection_builder();
                match acceptor {
                    None => {
                        let service = hyper_service(router, None);
                        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                        let _ = watcher.watch(conn.into_owned()).await;
                    }
                    Some(acceptor) => {
                        let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                            Ok(Ok(tls)) => tls,
                            Ok(Err(e)) => {
                                tracing::info!(%peer, error = %e, "tls handshake refused");
                                return;
                            }
                            Err(_) => return,
                        };
                        let certs =
                            tls.get_ref().1.peer_certificates().map(|c| {
                                PeerCertificates(Arc::new(c.iter().map(|c| c.clone().into_owned()).collect()))
                            });
                        let service = hyper_service(router, certs);
                        let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
                        let _ = watcher.watch(conn.into_owned()).await;
                    }
                }
            });
        }
        drop(listener);
        if tokio::time::timeout(grace, graceful.shutdown()).await.is_err() {
            tracing::warn!("connections still open after the grace period; closing them");
        }
    });
}

/// How long a client may take to send a request's headers (HTTP/1.1).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How often an idle HTTP/2 connection is pinged, and how long the answer may take.
const KEEPALIVE: (Duration, Duration) = (Duration::from_secs(30), Duration::from_secs(10));
/// The most HTTP/2 streams (calls) one connection may have open at once.
const MAX_STREAMS: u32 = 256;

/// One connection's HTTP settings: slow senders of headers are cut off, dead
/// HTTP/2 peers are found by keep-alive pings, and one connection cannot open
/// unbounded streams.
fn connection_builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(KEEPALIVE.0)
        .keep_alive_timeout(KEEPALIVE.1)
        .max_concurrent_streams(MAX_STREAMS);
    builder
}

/// The router as a hyper service that tags every request with the
/// connection's client certificates.
fn hyper_service(
    router: axum::Router,
    certs: Option<PeerCertificates>,
) -> hyper_util::service::TowerToHyperService<
    impl tower::Service<
            http::Request<hyper::body::Incoming>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
            Future = impl Send,
        > + Clone,
> {
    let service = router.map_request(move |mut request: http::Request<hyper::body::Incoming>| {
        if let Some(certs) = &certs {
            request.extensions_mut().insert(certs.clone());
        }
        request.map(axum::body::Body::new)
    });
    hyper_util::service::TowerToHyperService::new(service)
}

/// A TLS server configuration from PEM files: the server's certificate chain
/// and key, and — if `client_ca` is given — client certificates verified
/// against it (optional, so token-authenticated clients still connect; the
/// gateway decides who may call). ALPN offers h2 and http/1.1.
pub fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
    client_ca: Option<&std::path::Path>,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::PrivateKeyDer;
    let read = |path: &std::path::Path, what: &str| {
        std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read the {what} {}: {e}", path.display()))
    };
    let chain = CertificateDer::pem_slice_iter(&read(cert, "TLS certificate")?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("{} holds no PEM certificate: {e}", cert.display()))?;
    let key_der = PrivateKeyDer::from_pem_slice(&read(key, "TLS key")?)
        .map_err(|e| anyhow::anyhow!("{} holds no PEM private key: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder =
        rustls::ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(&read(ca, "client CA")?) {
                roots.add(c.map_err(|e| anyhow::anyhow!("{} holds no PEM certificate: {e}", ca.display()))?)?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key_der)
        .map_err(|e| anyhow::anyhow!("the TLS certificate and key do not fit together: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

//! Trace context across gRPC: a server layer that runs every call in a span
//! whose parent is the caller's W3C `traceparent` metadata, and a client
//! interceptor that sends the current span's `traceparent`.

use std::task::{Context, Poll};

use tower::{Layer, Service};
use tracing::instrument::Instrumented;
use tracing::Instrument;

use crate::telemetry;

/// The server layer; add it with `Server::builder().layer(grpc_trace::layer())`.
pub fn layer() -> TraceLayer {
    TraceLayer
}

/// See [`layer`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceLayer;

impl<S> Layer<S> for TraceLayer {
    type Service = TraceService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TraceService { inner }
    }
}

/// A service whose calls each run in an `rpc` span continuing the caller's trace.
#[derive(Debug, Clone)]
pub struct TraceService<S> {
    inner: S,
}

impl<S, B> Service<http::Request<B>> for TraceService<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Instrumented<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let span = tracing::info_span!("rpc", rpc.method = %request.uri().path());
        let parent = request.headers().get("traceparent").and_then(|v| v.to_str().ok());
        telemetry::set_parent(&span, parent);
        let _entered = span.enter();
        self.inner.call(request).instrument(span.clone())
    }
}

/// A client interceptor that sends the current span's `traceparent`:
/// `FooClient::with_interceptor(channel, grpc_trace::inject)`.
#[allow(clippy::result_large_err)] // tonic's interceptor signature
pub fn inject(mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
    if let Some(tp) = telemetry::current_traceparent() {
        if let Ok(value) = tp.parse() {
            request.metadata_mut().insert("traceparent", value);
        }
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt;

    const CALLER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn trace_id(traceparent: &str) -> &str {
        traceparent.split('-').nth(1).unwrap()
    }

    #[tokio::test]
    async fn a_call_continues_the_callers_trace_and_passes_it_on() {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        let _guard = tracing::subscriber::set_default(subscriber);

        // The handler sees the caller's trace and would send it on to the next hop.
        let handler = tower::service_fn(|_req: http::Request<()>| async {
            let outgoing = inject(tonic::Request::new(())).unwrap();
            let sent = outgoing.metadata().get("traceparent").map(|v| v.to_str().unwrap().to_string());
            Ok::<_, std::convert::Infallible>(sent)
        });
        let mut service = layer().layer(handler);
        let request = http::Request::builder()
            .uri("/fengqiao.intake.v1.IntakeService/GetCase")
            .header("traceparent", CALLER)
            .body(())
            .unwrap();
        let sent = service.call(request).await.unwrap().expect("a traceparent is sent on");
        assert_eq!(trace_id(&sent), trace_id(CALLER), "same trace");
        assert_ne!(sent, CALLER, "a new span within it");

        // Without a caller's trace, the call starts one of its own.
        let request = http::Request::builder().uri("/x").body(()).unwrap();
        let sent = service.call(request).await.unwrap().expect("a root trace");
        assert_ne!(trace_id(&sent), trace_id(CALLER));
    }
}

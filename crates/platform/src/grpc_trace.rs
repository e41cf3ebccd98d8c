//! Trace context across gRPC: a server layer that runs every call in a span
//! whose parent is the caller's W3C `traceparent` metadata, and a client
//! interceptor that sends the current span's `traceparent`.

use std::task::{Context, Poll};

use std::time::Instant;

use futures::future::BoxFuture;
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

impl<S, B, RB> Service<http::Request<B>> for TraceService<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let span = tracing::info_span!("rpc", rpc.method = %request.uri().path());
        let parent = request.headers().get("traceparent").and_then(|v| v.to_str().ok());
        telemetry::set_parent(&span, parent);
        let method = method_label(&request);
        let started = Instant::now();
        let _entered = span.enter();
        let answered: Instrumented<S::Future> = self.inner.call(request).instrument(span.clone());
        Box::pin(async move {
            let response = answered.await;
            let code = match &response {
                Ok(response) => code_label(response),
                Err(_) => "UNKNOWN".to_string(),
            };
            crate::metrics::count_call(&method, &code, started.elapsed().as_secs_f64());
            response
        })
    }
}

/// True for a gRPC message (content type `application/grpc…`).
fn is_grpc(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

/// The method label of a call: its gRPC path, or `HTTP` for the JSON face
/// (whose paths carry case numbers and would make a label per case).
fn method_label<B>(request: &http::Request<B>) -> String {
    if is_grpc(request.headers()) {
        request.uri().path().to_string()
    } else {
        "HTTP".to_string()
    }
}

/// The gRPC status name of a response: from its headers when the call failed
/// at once (trailers-only), `OK` otherwise; a plain HTTP response gives its
/// HTTP status.
fn code_label<B>(response: &http::Response<B>) -> String {
    if !is_grpc(response.headers()) {
        return response.status().as_u16().to_string();
    }
    match response.headers().get("grpc-status").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<i32>().ok()) {
        Some(n) => code_name(tonic::Code::from_i32(n)).to_string(),
        None => "OK".to_string(),
    }
}

/// The canonical name of a gRPC code (`NOT_FOUND`).
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The current span's `traceparent`, as a header to send on.
fn outgoing_traceparent() -> Option<http::HeaderValue> {
    telemetry::current_traceparent()?.parse().ok()
}

/// A channel to another component that sends the current span's
/// `traceparent` with every call, so the callee's spans join the caller's
/// trace (see [`crate::config::Settings::channel_to`]).
#[derive(Debug, Clone)]
pub struct TracedChannel(tonic::transport::Channel);

impl TracedChannel {
    /// Wraps `channel`.
    pub fn new(channel: tonic::transport::Channel) -> Self {
        Self(channel)
    }
}

impl Service<http::Request<tonic::body::Body>> for TracedChannel {
    type Response = http::Response<tonic::body::Body>;
    type Error = tonic::transport::Error;
    type Future = <tonic::transport::Channel as Service<http::Request<tonic::body::Body>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Service::poll_ready(&mut self.0, cx)
    }

    fn call(&mut self, mut request: http::Request<tonic::body::Body>) -> Self::Future {
        if let Some(value) = outgoing_traceparent() {
            request.headers_mut().insert("traceparent", value);
        }
        self.0.call(request)
    }
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
            let sent = outgoing_traceparent().map(|v| v.to_str().unwrap().to_string());
            Ok::<_, std::convert::Infallible>(http::Response::new(sent))
        });
        let mut service = layer().layer(handler);
        let request = http::Request::builder()
            .uri("/fengqiao.intake.v1.IntakeService/GetCase")
            .header("traceparent", CALLER)
            .body(())
            .unwrap();
        let sent = service.call(request).await.unwrap().into_body().expect("a traceparent is sent on");
        assert_eq!(trace_id(&sent), trace_id(CALLER), "same trace");
        assert_ne!(sent, CALLER, "a new span within it");

        // Without a caller's trace, the call starts one of its own.
        let request = http::Request::builder().uri("/x").body(()).unwrap();
        let sent = service.call(request).await.unwrap().into_body().expect("a root trace");
        assert_ne!(trace_id(&sent), trace_id(CALLER));
    }

    #[test]
    fn a_failed_call_is_counted_under_its_grpc_code_and_json_calls_under_their_http_status() {
        let failed = tonic::Status::not_found("no case").into_http::<()>();
        assert_eq!(code_label(&failed), "NOT_FOUND");
        let ok = http::Response::builder().header("content-type", "application/grpc").body(()).unwrap();
        assert_eq!(code_label(&ok), "OK");
        let json = http::Response::builder().status(429).header("content-type", "application/json").body(()).unwrap();
        assert_eq!(code_label(&json), "429");
        let http_call = http::Request::builder().uri("/v1/cases/CN-123").body(()).unwrap();
        assert_eq!(method_label(&http_call), "HTTP", "no case numbers in labels");
    }
}

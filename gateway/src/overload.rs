//! The gateway's overall bound: at most `agency_api.max_in_flight` agency
//! calls run at once, across every agency (tower's global concurrency limit);
//! a call beyond it is shed at once with UNAVAILABLE and retry advice (503 and
//! Retry-After over HTTP) instead of queueing. Health checks and reflection
//! are not behind it, so probes still answer under load.

use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::response::{IntoResponse, Response};
use prost_reflect::DescriptorPool;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::{BoxError, ServiceBuilder};

/// Sheds calls past `max_in_flight` on the routes of `router`.
pub fn bound(router: axum::Router, max_in_flight: usize, pool: DescriptorPool) -> axum::Router {
    let shed = move |headers: http::HeaderMap, _: BoxError| {
        let pool = pool.clone();
        async move { answer(&headers, &pool) }
    };
    router.layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(shed))
            .load_shed()
            .layer(GlobalConcurrencyLimitLayer::new(max_in_flight.max(1))),
    )
}

/// UNAVAILABLE with retry advice, as a gRPC status or as the HTTP face's JSON error.
fn answer(headers: &http::HeaderMap, pool: &DescriptorPool) -> Response {
    let status = fengqiao_platform::status::retry_later(
        tonic::Code::Unavailable,
        "the gateway is at its limit of calls in progress; retry after the advised delay",
        Duration::from_secs(1),
    );
    let grpc = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    if grpc {
        status.into_http::<axum::body::Body>().into_response()
    } else {
        crate::http::errors::response(pool, &status)
    }
}

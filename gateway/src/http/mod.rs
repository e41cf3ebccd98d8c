//! The HTTP/JSON face of the agency API: routes read from the protos'
//! `google.api.http` annotations, served on the gateway's own port beside
//! gRPC, and the OpenAPI document that describes them.

pub mod errors;
pub mod openapi;
pub mod rules;
pub mod transcode;

use std::sync::Arc;

use axum::routing::{any, get};
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, SerializeOptions};

/// Adds `/v1/…` (every annotated call, answered by `grpc`) and
/// `/openapi.json` to `router`.
pub fn add_routes<S>(router: axum::Router, pool: DescriptorPool, grpc: S, max_body: usize) -> axum::Router
where
    S: tower::Service<
            http::Request<http_body_util::Full<bytes::Bytes>>,
            Response = http::Response<tonic::body::Body>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let document = bytes::Bytes::from(serde_json::to_vec_pretty(&openapi::document(&pool)).expect("a JSON document"));
    let face =
        Arc::new(transcode::HttpFace { rules: rules::rules(&pool), pool, grpc: transcode::boxed(grpc), max_body });
    let v1 = axum::Router::new().route("/v1/{*path}", any(transcode::handle)).with_state(face);
    router.merge(v1).route(
        "/openapi.json",
        get(move || {
            let document = document.clone();
            async move { ([(http::header::CONTENT_TYPE, "application/json")], document) }
        }),
    )
}

/// An encoded message of type `desc` in the proto3 JSON mapping.
pub fn json(desc: &MessageDescriptor, encoded: &[u8]) -> Result<Vec<u8>, tonic::Status> {
    let message = DynamicMessage::decode(desc.clone(), encoded)
        .map_err(|e| fengqiao_platform::status::unexpected(&anyhow::anyhow!("undecodable answer: {e}")))?;
    let mut json = Vec::new();
    message
        .serialize_with_options(&mut serde_json::Serializer::new(&mut json), &SerializeOptions::new())
        .map_err(|e| fengqiao_platform::status::unexpected(&anyhow::anyhow!("unserialisable answer: {e}")))?;
    Ok(json)
}

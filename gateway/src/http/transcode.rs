//! HTTP/JSON → the gRPC method → JSON: a request on an annotated path
//! becomes the method's request message (body, path and query fields, proto3
//! JSON mapping) and is served by the very same gRPC service in-process, so
//! both faces share authentication, authorisation, limits, idempotency and
//! audit. Its answer, or its error, comes back as JSON.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use fengqiao_platform::status::{self, Violation};
use http_body_util::{BodyExt, Full};
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, Kind, MessageDescriptor};
use serde_json::{Map, Value as Json};
use tower::ServiceExt;

use super::errors;
use super::rules::Rule;

/// Request headers passed through to the gRPC method.
const PASSED_HEADERS: [&str; 4] = ["authorization", "idempotency-key", "x-request-id", "traceparent"];

/// What the HTTP face needs: the descriptors, the rules, and the gRPC service.
pub struct HttpFace<S> {
    /// The descriptors (for JSON mapping and errors).
    pub pool: DescriptorPool,
    /// The annotated methods.
    pub rules: Vec<Rule>,
    /// The gRPC service every rule calls.
    pub grpc: S,
    /// The largest JSON body accepted (the same bound as a gRPC message).
    pub max_body: usize,
}

type Grpc = tower::util::BoxCloneSyncService<
    http::Request<Full<Bytes>>,
    http::Response<tonic::body::Body>,
    std::convert::Infallible,
>;

/// The handler of every path under `/v1/`.
pub async fn handle(State(face): State<Arc<HttpFace<Grpc>>>, request: http::Request<Body>) -> Response {
    match transcode(&face, request).await {
        Ok(response) => response,
        Err(status) => errors::response(&face.pool, &status),
    }
}

/// Boxes the gRPC service for [`handle`].
pub fn boxed<S>(service: S) -> Grpc
where
    S: tower::Service<
            http::Request<Full<Bytes>>,
            Response = http::Response<tonic::body::Body>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    tower::util::BoxCloneSyncService::new(service)
}

async fn transcode(face: &HttpFace<Grpc>, request: http::Request<Body>) -> Result<Response, tonic::Status> {
    let path = request.uri().path().to_string();
    let matching: Vec<(&Rule, Vec<(String, String)>)> =
        face.rules.iter().filter_map(|r| r.matches(&path).map(|bound| (r, bound))).collect();
    let Some((rule, bound)) = matching.iter().find(|(r, _)| r.verb == request.method()) else {
        if matching.is_empty() {
            return Err(tonic::Status::not_found("no such path in the agency API; see /openapi.json"));
        }
        let allow: Vec<&str> = matching.iter().map(|(r, _)| r.verb.as_str()).collect();
        let mut response = errors::response(
            &face.pool,
            &tonic::Status::unimplemented(format!("this path takes {}", allow.join(", "))),
        );
        *response.status_mut() = http::StatusCode::METHOD_NOT_ALLOWED;
        response.headers_mut().insert(http::header::ALLOW, allow.join(", ").parse().expect("method names"));
        return Ok(response);
    };
    let (parts, body) = request.into_parts();
    let body = if rule.body {
        // OUT_OF_RANGE, as the gRPC face answers a message past its limit.
        let bytes = axum::body::to_bytes(body, face.max_body).await.map_err(|_| {
            tonic::Status::out_of_range(format!("the request is larger than {} bytes; send less", face.max_body))
        })?;
        Some(bytes)
    } else {
        None
    };
    let message = request_message(rule, body.as_deref(), parts.uri.query().unwrap_or(""), bound)?;

    let mut grpc = http::Request::builder()
        .method(http::Method::POST)
        .uri(rule.grpc_path())
        .header(http::header::CONTENT_TYPE, "application/grpc")
        .header(http::header::TE, "trailers");
    for name in PASSED_HEADERS {
        if let Some(v) = parts.headers.get(name) {
            grpc = grpc.header(name, v);
        }
    }
    let mut grpc = grpc.body(Full::new(frame(&message))).expect("a well-formed request");
    *grpc.extensions_mut() = parts.extensions;
    let response = face.grpc.clone().oneshot(grpc).await.unwrap_or_else(|never| match never {});
    let (head, body) = response.into_parts();
    let collected = body.collect().await.map_err(|_| tonic::Status::unavailable("the call was interrupted; retry"))?;
    let trailers = collected.trailers().cloned().unwrap_or_default();
    let outcome = tonic::Status::from_header_map(&trailers).or_else(|| tonic::Status::from_header_map(&head.headers));
    if let Some(status) = outcome.filter(|s| s.code() != tonic::Code::Ok) {
        return Err(status);
    }
    let data = collected.to_bytes();
    let payload = data.get(5..).unwrap_or_default();
    let json = super::json(&rule.method.output(), payload)?;
    let mut response = ([(http::header::CONTENT_TYPE, "application/json")], json).into_response();
    if let Some(id) = head.headers.get("x-request-id") {
        response.headers_mut().insert("x-request-id", id.clone());
    }
    Ok(response)
}

/// The request message of `rule`'s method from what the caller sent: the JSON
/// body (`None` when the rule takes none), the query string and the values
/// bound from the path. Every error is INVALID_ARGUMENT naming the field.
pub fn request_message(
    rule: &Rule,
    body: Option<&[u8]>,
    query: &str,
    bound: &[(String, String)],
) -> Result<DynamicMessage, tonic::Status> {
    let input = rule.method.input();
    let mut fields = match body {
        Some(bytes) => body_object(bytes)?,
        None => Map::new(),
    };
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        if body.is_some() {
            return Err(status::invalid_argument(&[Violation::new(
                name.as_ref(),
                "send every field in the JSON body; this call takes no query parameters",
            )]));
        }
        set(&input, &mut fields, &name, &value, true)?;
    }
    for (name, value) in bound {
        set(&input, &mut fields, name, value, false)?;
    }
    DynamicMessage::deserialize(input, Json::Object(fields))
        .map_err(|e| status::invalid_argument(&[Violation::new("body", format!("is not a valid request: {e}"))]))
}

/// The JSON body as an object (an empty body is `{}`).
fn body_object(bytes: &[u8]) -> Result<Map<String, Json>, tonic::Status> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Json>(bytes) {
        Ok(Json::Object(map)) => Ok(map),
        Ok(_) => Err(status::invalid_argument(&[Violation::new("body", "must be a JSON object")])),
        Err(e) => Err(status::invalid_argument(&[Violation::new(
            "body",
            format!("is not JSON (line {}, column {}); send application/json", e.line(), e.column()),
        )])),
    }
}

/// Sets a path or query value on the request object, as the proto3 JSON
/// mapping spells it for the field's type.
fn set(
    input: &MessageDescriptor,
    fields: &mut Map<String, Json>,
    name: &str,
    raw: &str,
    query: bool,
) -> Result<(), tonic::Status> {
    let field = input
        .get_field_by_name(name)
        .or_else(|| input.get_field_by_json_name(name))
        .filter(|f| !matches!(f.kind(), Kind::Message(_)))
        .ok_or_else(|| status::invalid_argument(&[Violation::new(name, "is not a parameter of this call")]))?;
    let value = match field.kind() {
        Kind::Bool => match raw {
            "true" => Json::Bool(true),
            "false" => Json::Bool(false),
            _ => return Err(status::invalid_argument(&[Violation::new(name, "must be true or false")])),
        },
        _ => Json::String(raw.to_string()),
    };
    let key = field.json_name().to_string();
    if field.is_list() && query {
        match fields.entry(key).or_insert_with(|| Json::Array(Vec::new())) {
            Json::Array(items) => items.push(value),
            _ => unreachable!("only this function writes lists"),
        }
    } else {
        fields.remove(field.name());
        fields.insert(key, value);
    }
    Ok(())
}

/// A message in gRPC's length-prefixed frame.
fn frame(message: &DynamicMessage) -> Bytes {
    let encoded = message.encode_to_vec();
    let mut buf = BytesMut::with_capacity(5 + encoded.len());
    buf.put_u8(0);
    buf.put_u32(encoded.len() as u32);
    buf.put_slice(&encoded);
    buf.freeze()
}

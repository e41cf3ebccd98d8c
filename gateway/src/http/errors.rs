//! The HTTP face's errors: the same `google.rpc.Status` the gRPC face sends
//! (code, message, details such as field violations), as proto3 JSON, under
//! the HTTP status google.rpc.Code names for the gRPC code.

use axum::response::{IntoResponse, Response};
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
use tonic::Code;

/// The HTTP status for a gRPC code (as in google/rpc/code.proto).
pub fn http_status(code: Code) -> http::StatusCode {
    use http::StatusCode as S;
    match code {
        Code::Ok => S::OK,
        Code::Cancelled => S::from_u16(499).expect("499 is a valid status"),
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => S::BAD_REQUEST,
        Code::DeadlineExceeded => S::GATEWAY_TIMEOUT,
        Code::NotFound => S::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => S::CONFLICT,
        Code::PermissionDenied => S::FORBIDDEN,
        Code::Unauthenticated => S::UNAUTHORIZED,
        Code::ResourceExhausted => S::TOO_MANY_REQUESTS,
        Code::Unimplemented => S::NOT_IMPLEMENTED,
        Code::Unavailable => S::SERVICE_UNAVAILABLE,
        Code::Unknown | Code::Internal | Code::DataLoss => S::INTERNAL_SERVER_ERROR,
    }
}

/// `status` as an HTTP response: its google.rpc.Status as JSON, with
/// `Retry-After` where retrying later is the advice.
pub fn response(pool: &DescriptorPool, status: &tonic::Status) -> Response {
    let desc = pool.get_message_by_name("google.rpc.Status").expect("google/rpc/status.proto is compiled in");
    // The details tonic carries are the whole google.rpc.Status, encoded.
    let message = match DynamicMessage::decode(desc.clone(), status.details()) {
        Ok(m) if !status.details().is_empty() => m,
        _ => {
            let mut m = DynamicMessage::new(desc);
            m.set_field_by_name("code", prost_reflect::Value::I32(status.code() as i32));
            m.set_field_by_name("message", prost_reflect::Value::String(status.message().to_string()));
            m
        }
    };
    let mut body = Vec::new();
    let mut serializer = serde_json::Serializer::new(&mut body);
    let options = SerializeOptions::new().skip_default_fields(false);
    if message.serialize_with_options(&mut serializer, &options).is_err() {
        body = format!(r#"{{"code":{},"message":"see the gRPC status"}}"#, status.code() as i32).into_bytes();
    }
    let mut response =
        (http_status(status.code()), [(http::header::CONTENT_TYPE, "application/json")], body).into_response();
    if let Some(id) = status.metadata().get("x-request-id").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()) {
        response.headers_mut().insert("x-request-id", id);
    }
    if matches!(status.code(), Code::ResourceExhausted | Code::Unavailable) {
        let after = status
            .metadata()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(1);
        response.headers_mut().insert(http::header::RETRY_AFTER, after.into());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use fengqiao_platform::status::{invalid_argument, Violation};

    #[test]
    fn a_field_violation_reads_the_same_in_json() {
        let status = invalid_argument(&[Violation::new("dispute.source", "is required")]);
        let response = response(&crate::http::rules::pool(), &status);
        assert_eq!(response.status(), http::StatusCode::BAD_REQUEST);
        let body = futures::executor::block_on(axum::body::to_bytes(response.into_body(), 1 << 16)).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["code"], 3);
        assert_eq!(json["details"][0]["@type"], "type.googleapis.com/google.rpc.BadRequest");
        assert_eq!(json["details"][0]["fieldViolations"][0]["field"], "dispute.source");
    }

    #[test]
    fn overload_says_when_to_retry() {
        let response = response(&crate::http::rules::pool(), &tonic::Status::resource_exhausted("slow down"));
        assert_eq!(response.status(), http::StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[http::header::RETRY_AFTER], "1");
        assert_eq!(http_status(Code::NotFound), http::StatusCode::NOT_FOUND);
        assert_eq!(http_status(Code::Unauthenticated), http::StatusCode::UNAUTHORIZED);
    }
}

//! Turning component errors into gRPC statuses the same way everywhere:
//! field violations as `google.rpc.BadRequest`, internal causes logged with an
//! id and never sent.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

/// One bad field: its path (e.g. `dispute.location.division_code`) and what
/// is wrong with it, said so the caller knows what to send instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The field path, proto field names joined by dots.
    pub field: String,
    /// What is wrong and what is allowed. Never the submitted value.
    pub description: String,
}

impl Violation {
    /// A violation of `field`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self { field: field.into(), description: description.into() }
    }
}

/// INVALID_ARGUMENT with every violation as a `google.rpc.BadRequest` detail.
pub fn invalid_argument(violations: &[Violation]) -> Status {
    let message = match violations {
        [one] => format!("{}: {}", one.field, one.description),
        many => format!(
            "{} fields are invalid: {}",
            many.len(),
            many.iter().map(|v| v.field.as_str()).collect::<Vec<_>>().join(", ")
        ),
    };
    let details = ErrorDetails::with_bad_request(
        violations.iter().map(|v| FieldViolation::new(v.field.clone(), v.description.clone())).collect::<Vec<_>>(),
    );
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// `code` (RESOURCE_EXHAUSTED or UNAVAILABLE) with retry advice: a
/// `google.rpc.RetryInfo` detail and a `retry-after` header in whole seconds
/// (at least one), which the HTTP face turns into `Retry-After`.
pub fn retry_later(code: Code, message: impl Into<String>, after: std::time::Duration) -> Status {
    let details = ErrorDetails::with_retry_info(Some(after));
    let mut status = Status::with_error_details(code, message, details);
    let seconds = after.as_secs() + u64::from(after.subsec_nanos() > 0);
    status.metadata_mut().insert("retry-after", seconds.max(1).into());
    status
}

/// The retry advice `status` carries, if any (for clients and tests).
pub fn retry_after(status: &Status) -> Option<std::time::Duration> {
    status.get_details_retry_info().and_then(|r| r.retry_delay)
}

/// Whether `error` is the database out of reach — down, restarting, the link
/// cut or stalled past the pool's wait — rather than a fault of ours.
pub fn is_unreachable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        // SQLSTATE class 08 (connection exception) and 57P01-57P05 (shut down, starting up, idle too long).
        sqlx::Error::Database(d) => d.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        _ => false,
    }
}

/// INTERNAL for a cause the caller cannot act on: the cause is logged with an
/// id, and only the id is sent. A database out of reach is UNAVAILABLE with
/// retry advice instead: the call changed nothing, and a retry will do.
pub fn unexpected(error: &anyhow::Error) -> Status {
    let id = uuid::Uuid::now_v7();
    if error.chain().filter_map(|e| e.downcast_ref::<sqlx::Error>()).any(is_unreachable) {
        tracing::warn!(error_id = %id, error = format!("{error:#}"), "the database is out of reach");
        return retry_later(
            Code::Unavailable,
            format!("the service cannot reach its database just now ({id}); retry in a few seconds"),
            std::time::Duration::from_secs(1),
        );
    }
    tracing::error!(error_id = %id, error = format!("{error:#}"), "internal error");
    Status::internal(format!("internal error {id}; retry later, and quote this id to the operator if it persists"))
}

/// INTERNAL for a database failure (logged with an id, never sent).
pub fn database(error: sqlx::Error) -> Status {
    unexpected(&error.into())
}

/// The violations carried by `status`, if any (for clients and tests).
pub fn violations(status: &Status) -> Vec<Violation> {
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| Violation::new(v.field, v.description)).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_travel_as_bad_request_details() {
        let status = invalid_argument(&[
            Violation::new("dispute.source", "is required"),
            Violation::new("dispute.external_ref", "is required"),
        ]);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().contains("dispute.source"));
        assert_eq!(violations(&status).len(), 2);
    }

    #[test]
    fn a_database_out_of_reach_is_unavailable_with_retry_advice() {
        let cut = anyhow::Error::from(sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset)));
        let status = unexpected(&cut.context("registering the case"));
        assert_eq!(status.code(), Code::Unavailable);
        assert!(status.message().contains("retry"), "{}", status.message());
        assert!(retry_after(&status).is_some());
        assert_eq!(unexpected(&sqlx::Error::PoolTimedOut.into()).code(), Code::Unavailable);
        assert_eq!(
            unexpected(&sqlx::Error::RowNotFound.into()).code(),
            Code::Internal,
            "a fault of ours stays INTERNAL"
        );
    }

    #[test]
    fn an_internal_cause_is_not_sent() {
        let status = unexpected(&anyhow::anyhow!("password authentication failed for user fq"));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("password"));
    }
}

//! Routing's errors, each with its gRPC code.

use fengqiao_platform::status::{self, Violation};
use tonic::{Code, Status};

/// What can go wrong in routing.
#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    /// Bad input; nothing changed.
    #[error("invalid request")]
    Invalid(Vec<Violation>),
    /// No such referral for this caller.
    #[error("referral not found")]
    NotFound,
    /// The request is well formed but the state forbids it; the message says what to do.
    #[error("precondition: {0}")]
    Precondition(String),
    /// The receiving side answered with this status (e.g. FAILED_PRECONDITION
    /// when work has started); passed on as it is.
    #[error("mediation answered: {0}")]
    Receiver(Status),
    /// A fault of ours; logged, never sent.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<sqlx::Error> for RoutingError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unexpected(e.into())
    }
}

impl From<fengqiao_platform::consumer::HandlerError> for RoutingError {
    fn from(e: fengqiao_platform::consumer::HandlerError) -> Self {
        Self::Unexpected(anyhow::anyhow!(e.0))
    }
}

impl From<RoutingError> for Status {
    fn from(e: RoutingError) -> Self {
        match e {
            RoutingError::Invalid(v) => status::invalid_argument(&v),
            RoutingError::NotFound => Status::not_found("no such referral, case, clock or notice among the caller's"),
            RoutingError::Precondition(why) => Status::failed_precondition(why),
            RoutingError::Receiver(s) => match s.code() {
                Code::FailedPrecondition | Code::InvalidArgument | Code::NotFound => s,
                _ => Status::unavailable("the mediation service did not answer; retry in a few seconds"),
            },
            RoutingError::Unexpected(cause) => status::unexpected(&cause),
        }
    }
}

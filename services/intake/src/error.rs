//! Intake's errors, each with its gRPC code.

use fengqiao_platform::status::{self, Violation};
use tonic::Status;

/// What can go wrong in intake.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// Bad input; nothing was stored.
    #[error("invalid request")]
    Invalid(Vec<Violation>),
    /// No such case.
    #[error("case not found")]
    NotFound,
    /// A fault of ours; logged, never sent.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<sqlx::Error> for IntakeError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unexpected(e.into())
    }
}

impl From<IntakeError> for Status {
    fn from(e: IntakeError) -> Self {
        match e {
            IntakeError::Invalid(v) => status::invalid_argument(&v),
            IntakeError::NotFound => Status::not_found("no case with this id"),
            IntakeError::Unexpected(cause) => status::unexpected(&cause),
        }
    }
}

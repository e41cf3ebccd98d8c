//! Mediation's errors, each with its gRPC code.

use fengqiao_domain::referral::TransitionError;
use fengqiao_platform::status::{self, Violation};
use tonic::Status;

/// What can go wrong in mediation.
#[derive(Debug, thiserror::Error)]
pub enum MediationError {
    /// Bad input; nothing changed.
    #[error("invalid request")]
    Invalid(Vec<Violation>),
    /// No such referral for this caller.
    #[error("referral not found")]
    NotFound,
    /// Not allowed in the referral's current state.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// The referral moved since the caller saw it.
    #[error("the referral is {actual} now, not {expected} as you saw; look again and retry if you still want to")]
    StateChanged {
        /// What the caller saw.
        expected: &'static str,
        /// What it is.
        actual: &'static str,
    },
    /// Contacts asked for while the organisation is not working on the referral.
    #[error("party contacts are shown only while your organisation works on the referral; it is {0}")]
    NotWorking(&'static str),
    /// Not allowed now; the message says why and what to do.
    #[error("{0}")]
    Precondition(String),
    /// A component behind mediation failed to answer.
    #[error("upstream: {0}")]
    Upstream(Status),
    /// A fault of ours; logged, never sent.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<sqlx::Error> for MediationError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unexpected(e.into())
    }
}

impl MediationError {
    /// Bad input in one field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(vec![Violation::new(field, message)])
    }
}

impl From<MediationError> for Status {
    fn from(e: MediationError) -> Self {
        match e {
            MediationError::Invalid(v) => status::invalid_argument(&v),
            MediationError::NotFound => {
                Status::not_found("no such referral in this organisation's inbox; check the referral id")
            }
            MediationError::Transition(t @ TransitionError::IllegalFrom { .. }) => {
                Status::failed_precondition(t.to_string())
            }
            MediationError::Transition(t @ TransitionError::WrongSide { .. }) => {
                Status::permission_denied(t.to_string())
            }
            e @ (MediationError::NotWorking(_)
            | MediationError::StateChanged { .. }
            | MediationError::Precondition(_)) => Status::failed_precondition(e.to_string()),
            MediationError::Upstream(s) => match s.code() {
                tonic::Code::NotFound | tonic::Code::InvalidArgument => s,
                _ => Status::unavailable("intake or routing is not answering; retry in a few seconds"),
            },
            MediationError::Unexpected(cause) => status::unexpected(&cause),
        }
    }
}

//! Which subject each event payload travels on.

use crate::fengqiao::events::v1 as ev;

/// Every event subject of fengqiao (`fq.v1.<aggregate>.<event>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// `fq.v1.case.registered`
    CaseRegistered,
    /// `fq.v1.case.returned`
    CaseReturned,
    /// `fq.v1.case.risk_changed`
    CaseRiskChanged,
    /// `fq.v1.case.personal_data_accessed`
    PersonalDataAccessed,
    /// `fq.v1.referral.requested`
    ReferralRequested,
    /// `fq.v1.referral.received`
    ReferralReceived,
    /// `fq.v1.referral.accepted`
    ReferralAccepted,
    /// `fq.v1.referral.rejected`
    ReferralRejected,
    /// `fq.v1.referral.started`
    ReferralStarted,
    /// `fq.v1.referral.held`
    ReferralHeld,
    /// `fq.v1.referral.resumed`
    ReferralResumed,
    /// `fq.v1.referral.completed`
    ReferralCompleted,
    /// `fq.v1.referral.failed`
    ReferralFailed,
    /// `fq.v1.referral.cancelled`
    ReferralCancelled,
    /// `fq.v1.mediation.concluded`
    MediationConcluded,
    /// `fq.v1.clock.breached`
    ClockBreached,
    /// `fq.v1.clock.missing`
    ClockMissing,
    /// `fq.v1.ops.event_dead_lettered`
    EventDeadLettered,
    /// `fq.v1.clock.warning`
    ClockWarning,
    /// `fq.v1.alarm.raised`
    AlarmRaised,
    /// `fq.v1.supervision.owner_assigned`
    CaseOwnerAssigned,
    /// `fq.v1.supervision.notice_issued`
    SupervisionNoticeIssued,
    /// `fq.v1.ops.event_replayed`
    EventReplayed,
    /// `fq.v1.clock.scheduled`
    ClockScheduled,
    /// `fq.v1.confirmation.requested`
    ConfirmationRequested,
    /// `fq.v1.confirmation.accepted`
    ConfirmationAccepted,
    /// `fq.v1.confirmation.decided`
    ConfirmationDecided,
    /// `fq.v1.petition.review_requested`
    PetitionReviewRequested,
}

impl EventKind {
    /// Every kind, for subscriptions and documentation.
    pub const ALL: [EventKind; 28] = [
        Self::CaseRegistered,
        Self::CaseReturned,
        Self::CaseRiskChanged,
        Self::PersonalDataAccessed,
        Self::ReferralRequested,
        Self::ReferralReceived,
        Self::ReferralAccepted,
        Self::ReferralRejected,
        Self::ReferralStarted,
        Self::ReferralHeld,
        Self::ReferralResumed,
        Self::ReferralCompleted,
        Self::ReferralFailed,
        Self::ReferralCancelled,
        Self::MediationConcluded,
        Self::ClockBreached,
        Self::ClockMissing,
        Self::EventDeadLettered,
        Self::ClockWarning,
        Self::AlarmRaised,
        Self::CaseOwnerAssigned,
        Self::SupervisionNoticeIssued,
        Self::EventReplayed,
        Self::ClockScheduled,
        Self::ConfirmationRequested,
        Self::ConfirmationAccepted,
        Self::ConfirmationDecided,
        Self::PetitionReviewRequested,
    ];

    /// The subject, which is also the CloudEvents `type`.
    pub const fn subject(self) -> &'static str {
        match self {
            Self::CaseRegistered => "fq.v1.case.registered",
            Self::CaseReturned => "fq.v1.case.returned",
            Self::CaseRiskChanged => "fq.v1.case.risk_changed",
            Self::PersonalDataAccessed => "fq.v1.case.personal_data_accessed",
            Self::ReferralRequested => "fq.v1.referral.requested",
            Self::ReferralReceived => "fq.v1.referral.received",
            Self::ReferralAccepted => "fq.v1.referral.accepted",
            Self::ReferralRejected => "fq.v1.referral.rejected",
            Self::ReferralStarted => "fq.v1.referral.started",
            Self::ReferralHeld => "fq.v1.referral.held",
            Self::ReferralResumed => "fq.v1.referral.resumed",
            Self::ReferralCompleted => "fq.v1.referral.completed",
            Self::ReferralFailed => "fq.v1.referral.failed",
            Self::ReferralCancelled => "fq.v1.referral.cancelled",
            Self::MediationConcluded => "fq.v1.mediation.concluded",
            Self::ClockBreached => "fq.v1.clock.breached",
            Self::ClockMissing => "fq.v1.clock.missing",
            Self::EventDeadLettered => "fq.v1.ops.event_dead_lettered",
            Self::ClockWarning => "fq.v1.clock.warning",
            Self::AlarmRaised => "fq.v1.alarm.raised",
            Self::CaseOwnerAssigned => "fq.v1.supervision.owner_assigned",
            Self::SupervisionNoticeIssued => "fq.v1.supervision.notice_issued",
            Self::EventReplayed => "fq.v1.ops.event_replayed",
            Self::ClockScheduled => "fq.v1.clock.scheduled",
            Self::ConfirmationRequested => "fq.v1.confirmation.requested",
            Self::ConfirmationAccepted => "fq.v1.confirmation.accepted",
            Self::ConfirmationDecided => "fq.v1.confirmation.decided",
            Self::PetitionReviewRequested => "fq.v1.petition.review_requested",
        }
    }

    /// The kind whose subject this is.
    pub fn from_subject(subject: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.subject() == subject)
    }
}

/// An event payload: a protobuf message with the case it concerns.
pub trait Event: prost::Message + Default {
    /// The case id, carried as the CloudEvents `subject`.
    fn case_id(&self) -> &str;
}

macro_rules! event_payload {
    ($($msg:ty),* $(,)?) => {
        $(impl Event for $msg {
            fn case_id(&self) -> &str {
                &self.case_id
            }
        })*
    };
}

event_payload!(
    ev::CaseRegistered,
    ev::CaseReturned,
    ev::CaseRiskChanged,
    ev::PersonalDataAccessed,
    ev::ReferralRequested,
    ev::ReferralStateChanged,
    ev::MediationConcluded,
    ev::ClockBreached,
    ev::ClockMissing,
    ev::EventDeadLettered,
    ev::ClockWarning,
    ev::AlarmRaised,
    ev::CaseOwnerAssigned,
    ev::SupervisionNoticeIssued,
    ev::EventReplayed,
    ev::ClockScheduled,
    ev::ConfirmationRequested,
    ev::ConfirmationAccepted,
    ev::ConfirmationDecided,
    ev::PetitionReviewRequested,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subject_is_versioned_and_maps_back_to_its_kind() {
        for kind in EventKind::ALL {
            assert!(kind.subject().starts_with("fq.v1."), "{kind:?}");
            assert_eq!(EventKind::from_subject(kind.subject()), Some(kind));
        }
        assert_eq!(EventKind::from_subject("fq.v1.case.unknown"), None);
    }
}

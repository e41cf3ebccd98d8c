//! What an agency-side component follows to know where its case stands: its
//! registration, every move of its referrals, the mediation's conclusion and a
//! return to the sender. One reading of those events serves court linkage,
//! petition linkage and the gateway's status view.

use fengqiao_proto::fengqiao::events::v1::{
    CaseRegistered, CaseReturned, MediationConcluded, ReferralRequested, ReferralStateChanged,
};
use fengqiao_proto::{Event, EventKind};

/// The events a result follower subscribes to: registration, return, every
/// referral event and the conclusion.
pub fn tracked_events() -> Vec<EventKind> {
    let mut kinds = vec![EventKind::CaseRegistered, EventKind::CaseReturned, EventKind::ReferralRequested];
    kinds.extend(crate::referral::STATE_CHANGE_EVENTS);
    kinds.push(EventKind::MediationConcluded);
    kinds
}

/// One event, read as a change of where a case stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// The case was registered.
    Registered(CaseRegistered),
    /// A referral was requested of an organisation.
    Requested(ReferralRequested),
    /// A referral moved.
    Moved(ReferralStateChanged),
    /// Mediation concluded.
    Concluded(MediationConcluded),
    /// The case went back to its sender.
    Returned(CaseReturned),
}

impl Progress {
    /// Reads an event payload of `kind`; `None` for kinds not tracked.
    pub fn decode(kind: EventKind, payload: &[u8]) -> Option<Result<Self, prost::DecodeError>> {
        fn d<E: Event>(p: &[u8]) -> Result<E, prost::DecodeError> {
            E::decode(p)
        }
        Some(match kind {
            EventKind::CaseRegistered => d(payload).map(Progress::Registered),
            EventKind::ReferralRequested => d(payload).map(Progress::Requested),
            EventKind::MediationConcluded => d(payload).map(Progress::Concluded),
            EventKind::CaseReturned => d(payload).map(Progress::Returned),
            k if crate::referral::STATE_CHANGE_EVENTS.contains(&k) => d(payload).map(Progress::Moved),
            _ => return None,
        })
    }

    /// The case it concerns.
    pub fn case_id(&self) -> &str {
        match self {
            Progress::Registered(e) => &e.case_id,
            Progress::Requested(e) => &e.case_id,
            Progress::Moved(e) => &e.case_id,
            Progress::Concluded(e) => &e.case_id,
            Progress::Returned(e) => &e.case_id,
        }
    }
}

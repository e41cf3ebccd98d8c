//! The referral state machine, modelled on the HL7 FHIR Task:
//! REQUESTED → RECEIVED → ACCEPTED | REJECTED → IN_PROGRESS ⇄ ON_HOLD →
//! COMPLETED | FAILED; CANCELLED from REQUESTED, RECEIVED or ACCEPTED only.
//! Only the receiver moves a referral forward; only the sender cancels it.

use fengqiao_proto::fengqiao::common::v1::ReferralState;
use fengqiao_proto::fengqiao::events::v1::ReferralStateChanged;
use fengqiao_proto::EventKind;

/// Who asks for a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The agency or component that sent the case.
    Sender,
    /// The organisation that received it.
    Receiver,
}

/// What is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The organisation's system has it.
    Receive,
    /// The organisation takes it on.
    Accept,
    /// The organisation declines it (with a reason).
    Reject,
    /// Mediation starts.
    Start,
    /// Mediation pauses.
    Hold,
    /// Mediation resumes.
    Resume,
    /// Mediation concludes with an outcome.
    Complete,
    /// The organisation cannot carry it out (with a reason).
    Fail,
    /// The sender revokes it.
    Cancel,
}

impl Action {
    /// The side allowed to ask for it.
    pub fn side(self) -> Side {
        match self {
            Action::Cancel => Side::Sender,
            _ => Side::Receiver,
        }
    }

    /// The states it may start from.
    fn allowed_from(self) -> &'static [ReferralState] {
        use ReferralState::*;
        match self {
            Action::Receive => &[Requested],
            Action::Accept | Action::Reject => &[Received],
            Action::Start => &[Accepted],
            Action::Hold => &[InProgress],
            Action::Resume => &[OnHold],
            Action::Complete | Action::Fail => &[InProgress, OnHold],
            Action::Cancel => &[Requested, Received, Accepted],
        }
    }

    /// The state it leads to.
    pub fn to_state(self) -> ReferralState {
        use ReferralState::*;
        match self {
            Action::Receive => Received,
            Action::Accept => Accepted,
            Action::Reject => Rejected,
            Action::Start | Action::Resume => InProgress,
            Action::Hold => OnHold,
            Action::Complete => Completed,
            Action::Fail => Failed,
            Action::Cancel => Cancelled,
        }
    }

    /// True when the action must carry a reason (told to the other side).
    pub fn needs_reason(self) -> bool {
        matches!(self, Action::Reject | Action::Fail | Action::Cancel)
    }

    /// The event announcing it.
    pub fn event_kind(self) -> EventKind {
        match self {
            Action::Receive => EventKind::ReferralReceived,
            Action::Accept => EventKind::ReferralAccepted,
            Action::Reject => EventKind::ReferralRejected,
            Action::Start => EventKind::ReferralStarted,
            Action::Hold => EventKind::ReferralHeld,
            Action::Resume => EventKind::ReferralResumed,
            Action::Complete => EventKind::ReferralCompleted,
            Action::Fail => EventKind::ReferralFailed,
            Action::Cancel => EventKind::ReferralCancelled,
        }
    }

    /// Lower-case verb for messages.
    pub fn verb(self) -> &'static str {
        match self {
            Action::Receive => "receive",
            Action::Accept => "accept",
            Action::Reject => "reject",
            Action::Start => "start",
            Action::Hold => "put on hold",
            Action::Resume => "resume",
            Action::Complete => "complete",
            Action::Fail => "fail",
            Action::Cancel => "cancel",
        }
    }
}

/// A transition that is not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The wrong side asked.
    #[error("only the {} may {} a referral", side_name(.action.side()), .action.verb())]
    WrongSide {
        /// What was asked.
        action: Action,
    },
    /// Not from this state.
    #[error("cannot {} a referral that is {}", .action.verb(), state_name(*.from))]
    IllegalFrom {
        /// The current state.
        from: ReferralState,
        /// What was asked.
        action: Action,
    },
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Sender => "sender",
        Side::Receiver => "receiving organisation",
    }
}

/// The state's name as agencies see it in the API (`REQUESTED`, `IN_PROGRESS`, …).
pub fn state_name(state: ReferralState) -> &'static str {
    state.as_str_name().strip_prefix("REFERRAL_STATE_").unwrap_or("UNSPECIFIED")
}

/// Every event that announces a referral's move after it was requested.
pub const STATE_CHANGE_EVENTS: [EventKind; 9] = [
    EventKind::ReferralReceived,
    EventKind::ReferralAccepted,
    EventKind::ReferralRejected,
    EventKind::ReferralStarted,
    EventKind::ReferralHeld,
    EventKind::ReferralResumed,
    EventKind::ReferralCompleted,
    EventKind::ReferralFailed,
    EventKind::ReferralCancelled,
];

/// True for REJECTED, CANCELLED, COMPLETED and FAILED.
pub fn is_terminal(state: ReferralState) -> bool {
    use ReferralState::*;
    matches!(state, Rejected | Cancelled | Completed | Failed)
}

/// The state after `action` by `by` from `from`, or why not.
pub fn transition(from: ReferralState, action: Action, by: Side) -> Result<ReferralState, TransitionError> {
    if by != action.side() {
        return Err(TransitionError::WrongSide { action });
    }
    if !action.allowed_from().contains(&from) {
        return Err(TransitionError::IllegalFrom { from, action });
    }
    Ok(action.to_state())
}

/// How far along its life a referral is: no move leads back to a lower rank
/// (ON_HOLD and IN_PROGRESS share one; every end state is the last).
fn rank(state: ReferralState) -> u8 {
    use ReferralState::*;
    match state {
        Unspecified => 0,
        Requested => 1,
        Received => 2,
        Accepted => 3,
        InProgress | OnHold => 4,
        Rejected | Completed | Failed | Cancelled => 5,
    }
}

/// Whether a move `from → to` of a referral, arriving now, is newer than the
/// `current` state a reader holds. Moves arrive out of order when a delivery
/// is retried after a crash while later ones went through; a stale move must
/// not undo them. Within IN_PROGRESS ⇄ ON_HOLD a move counts only from the
/// state it starts from.
pub fn is_newer(current: ReferralState, from: ReferralState, to: ReferralState) -> bool {
    let (now, next) = (rank(current), rank(to));
    next > now || (next == now && next == 4 && from == current && to != current)
}

/// Whether a record that follows referral `followed`, now in `state`, takes
/// the move `e`: only a move of that referral, and only a newer one
/// ([`is_newer`]) — a late delivery of an earlier referral's move, or of a
/// step already passed, changes nothing.
pub fn takes_move(followed: &str, state: i32, e: &ReferralStateChanged) -> bool {
    let current = ReferralState::try_from(state).unwrap_or_default();
    followed == e.referral_id && is_newer(current, e.from_state(), e.to_state())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_record_takes_only_newer_moves_of_the_referral_it_follows() {
        use super::ReferralState::*;
        let moved =
            |referral: &str, from: super::ReferralState, to: super::ReferralState| super::ReferralStateChanged {
                referral_id: referral.into(),
                from_state: from as i32,
                to_state: to as i32,
                ..Default::default()
            };
        assert!(super::takes_move("r2", Requested as i32, &moved("r2", Requested, Received)));
        assert!(!super::takes_move("r2", Requested as i32, &moved("r1", Accepted, InProgress)), "an earlier referral");
        assert!(
            !super::takes_move("r2", Completed as i32, &moved("r2", Accepted, InProgress)),
            "a step already passed"
        );
    }

    #[test]
    fn a_stale_move_never_undoes_a_later_one() {
        use ReferralState::*;
        assert!(super::is_newer(Requested, Requested, Received));
        assert!(super::is_newer(Requested, Received, Accepted), "a later move may arrive first");
        assert!(!super::is_newer(Completed, Requested, Received), "a redelivered receipt after completion");
        assert!(!super::is_newer(Accepted, Requested, Received));
        assert!(super::is_newer(InProgress, InProgress, OnHold));
        assert!(super::is_newer(OnHold, OnHold, InProgress));
        assert!(!super::is_newer(InProgress, OnHold, InProgress), "a resume already applied");
        assert!(!super::is_newer(Cancelled, Accepted, InProgress));
    }

    use super::*;
    use ReferralState::*;

    const ACTIONS: [Action; 9] = [
        Action::Receive,
        Action::Accept,
        Action::Reject,
        Action::Start,
        Action::Hold,
        Action::Resume,
        Action::Complete,
        Action::Fail,
        Action::Cancel,
    ];
    const STATES: [ReferralState; 9] =
        [Requested, Received, Accepted, Rejected, InProgress, OnHold, Completed, Failed, Cancelled];

    #[test]
    fn the_happy_path_runs_from_requested_to_completed() {
        let mut s = Requested;
        for a in [Action::Receive, Action::Accept, Action::Start, Action::Hold, Action::Resume, Action::Complete] {
            s = transition(s, a, Side::Receiver).unwrap();
        }
        assert_eq!(s, Completed);
    }

    #[test]
    fn cancel_is_allowed_only_before_work_starts_and_only_to_the_sender() {
        for s in STATES {
            let allowed = matches!(s, Requested | Received | Accepted);
            assert_eq!(transition(s, Action::Cancel, Side::Sender).is_ok(), allowed, "{s:?}");
            assert!(matches!(transition(s, Action::Cancel, Side::Receiver), Err(TransitionError::WrongSide { .. })));
        }
        let err = transition(InProgress, Action::Cancel, Side::Sender).unwrap_err();
        assert_eq!(err.to_string(), "cannot cancel a referral that is IN_PROGRESS");
    }

    #[test]
    fn nothing_leaves_a_terminal_state() {
        for s in STATES.into_iter().filter(|s| is_terminal(*s)) {
            for a in ACTIONS {
                assert!(transition(s, a, a.side()).is_err(), "{a:?} from {s:?}");
            }
        }
    }

    #[test]
    fn the_sender_never_moves_a_referral_forward() {
        for s in STATES {
            for a in ACTIONS.into_iter().filter(|a| *a != Action::Cancel) {
                assert_eq!(transition(s, a, Side::Sender), Err(TransitionError::WrongSide { action: a }));
            }
        }
    }
}

//! Who may act on a referral: staff of the receiving (lead) organisation, and
//! for some acts staff of an organisation that joined its mediation. Anyone
//! else is told the referral does not exist.

use fengqiao_domain::referral;
use fengqiao_proto::fengqiao::common::v1::{Actor, ReferralState};
use fengqiao_proto::fengqiao::mediation::v1::JointState;
use sqlx::AnyConnection;

use crate::store::{self, Stored};
use crate::MediationError;

/// Who acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// Only the receiving organisation.
    Lead,
    /// The receiving organisation or one that joined the mediation.
    LeadOrJoined,
}

/// The referral, if `actor` may act on it as `who` says; to be read, not changed.
pub async fn load(
    conn: &mut AnyConnection,
    referral_id: &str,
    actor: &Actor,
    who: Who,
) -> Result<Stored, MediationError> {
    load_as(conn, referral_id, actor, who, false).await
}

/// The referral, if `actor` may act on it as `who` says, held against
/// concurrent changes until `tx` ends ([`store::find_for_change`]): work that
/// checks the referral's state and then writes loads it this way, in the
/// transaction that writes.
pub async fn load_for_change(
    tx: &mut AnyConnection,
    referral_id: &str,
    actor: &Actor,
    who: Who,
) -> Result<Stored, MediationError> {
    load_as(tx, referral_id, actor, who, true).await
}

async fn load_as(
    conn: &mut AnyConnection,
    referral_id: &str,
    actor: &Actor,
    who: Who,
    for_change: bool,
) -> Result<Stored, MediationError> {
    if actor.org_id.trim().is_empty() {
        return Err(MediationError::invalid("actor.org_id", "is required: the organisation acting"));
    }
    let stored = store::select(&mut *conn, referral_id, for_change).await?.ok_or(MediationError::NotFound)?;
    if stored.item.org_id == actor.org_id {
        return Ok(stored);
    }
    if who == Who::LeadOrJoined {
        let joined: Option<(i32,)> =
            sqlx::query_as("SELECT state FROM joint_organisations WHERE referral_id = $1 AND org_id = $2")
                .bind(referral_id)
                .bind(&actor.org_id)
                .fetch_optional(conn)
                .await?;
        if joined == Some((JointState::Joined as i32,)) {
            return Ok(stored);
        }
    }
    Err(MediationError::NotFound)
}

/// The referral's state.
pub fn state(stored: &Stored) -> ReferralState {
    ReferralState::try_from(stored.item.state).unwrap_or(ReferralState::Unspecified)
}

/// FAILED_PRECONDITION unless the referral is in one of `states`; `doing` says what was asked.
pub fn require(stored: &Stored, states: &[ReferralState], doing: &str) -> Result<(), MediationError> {
    let now = state(stored);
    if states.contains(&now) {
        return Ok(());
    }
    let allowed: Vec<&str> = states.iter().map(|s| referral::state_name(*s)).collect();
    let hint = if now == ReferralState::Completed {
        "the mediation has ended".to_string()
    } else {
        format!("it must be {}", allowed.join(" or "))
    };
    Err(MediationError::Precondition(format!("cannot {doing}: the referral is {}; {hint}", referral::state_name(now))))
}

/// The states in which the organisation works on a referral.
pub const WORKING: [ReferralState; 3] = [ReferralState::Accepted, ReferralState::InProgress, ReferralState::OnHold];

/// The states in which mediation is under way.
pub const UNDER_WAY: [ReferralState; 2] = [ReferralState::InProgress, ReferralState::OnHold];

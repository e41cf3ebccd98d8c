//! Following a lane's run of receipts (moves to RECEIVED, one a referral):
//! their referrals read in one statement, their new states written in another.

use fengqiao_platform::consumer::HandlerError;
use fengqiao_platform::db::now_micros;
use fengqiao_proto::fengqiao::common::v1::ReferralState;
use fengqiao_proto::fengqiao::events::v1::ReferralStateChanged;
use sqlx::{Any, Transaction};

use super::RoutingService;
use crate::store;

impl RoutingService {
    /// Follows moves to RECEIVED in order, as [`on_referral_changed`](Self::on_referral_changed)
    /// would one after another (a receipt starts, ends or escalates nothing: only the
    /// referral's state changes). A move of a referral routing does not know fails
    /// them all; one already passed (a late or repeated delivery) changes nothing.
    pub async fn on_referrals_received(
        &self,
        tx: &mut Transaction<'static, Any>,
        moves: &[ReferralStateChanged],
    ) -> Result<(), HandlerError> {
        if let Some(other) = moves.iter().find(|ev| ev.to_state() != ReferralState::Received) {
            return Err(HandlerError(format!(
                "referral {} moved to {:?}, not RECEIVED",
                other.referral_id,
                other.to_state()
            )));
        }
        let ids: Vec<&str> = moves.iter().map(|ev| ev.referral_id.as_str()).collect();
        let mut known = store::find_referrals(tx, &ids).await?;
        let mut taken: Vec<(&str, i32, &str)> = Vec::new();
        for ev in moves {
            let Some((referral, _)) = known.get_mut(&ev.referral_id) else {
                return Err(HandlerError(format!("referral {} is not known to routing yet", ev.referral_id)));
            };
            let current = ReferralState::try_from(referral.state).unwrap_or_default();
            if !fengqiao_domain::referral::is_newer(current, ev.from_state(), ev.to_state()) {
                continue;
            }
            referral.state = ev.to_state;
            // A referral moved twice in the run keeps its last move.
            taken.retain(|(id, _, _)| *id != ev.referral_id);
            taken.push((&ev.referral_id, ev.to_state, &ev.reason));
        }
        store::set_states(tx, &taken, now_micros()).await?;
        Ok(())
    }
}

//! Which clocks a case runs as its process moves: the agency's clock from
//! registration (police feedback, petition acceptance), the mediation clock of
//! its kind from acceptance (paused on hold, ended with the referral), a
//! petition review's answer, and the court's clocks on a judicial confirmation.

use fengqiao_platform::consumer::HandlerError;
use fengqiao_platform::db::now_micros;
use fengqiao_proto::fengqiao::common::v1::{Dispute, ReferralState, Source};
use fengqiao_proto::fengqiao::events::v1::PetitionReviewRequested;
use fengqiao_proto::fengqiao::routing::v1::ClockState;
use fengqiao_proto::EventKind;
use prost::Message;
use sqlx::{Any, Transaction};

use crate::clocks::{self, Kind};
use crate::service::RoutingService;
use crate::store;

/// The clock an agency's process runs from registration to an organisation's acceptance.
pub(crate) fn agency_clock(dispute: &Dispute) -> Option<Kind> {
    match Source::try_from(dispute.source) {
        Ok(Source::Police) => Some(Kind::PoliceFeedback),
        Ok(Source::Petition) => Some(Kind::PetitionAcceptance),
        _ => None,
    }
}

/// The mediation clock of a case, by the door it came through.
fn mediation_clock(dispute: &Dispute) -> Kind {
    match Source::try_from(dispute.source) {
        Ok(Source::CourtPreLitigation) => Kind::PreLitigation,
        Ok(Source::CourtInLitigation) if dispute.simplified_procedure => Kind::InLitigationSimplified,
        Ok(Source::CourtInLitigation) => Kind::InLitigation,
        Ok(Source::Petition) => Kind::PetitionHandling,
        _ => Kind::PeoplesMediation,
    }
}

/// Every clock that times the mediation itself.
const MEDIATION_CLOCKS: [Kind; 6] = [
    Kind::PeoplesMediation,
    Kind::PreLitigation,
    Kind::InLitigation,
    Kind::InLitigationSimplified,
    Kind::PetitionHandling,
    Kind::PetitionReviewAnswer,
];

/// The clocks a referral's move answers: the agency's, and the response to its risk.
const ANSWERED_BY_ACCEPTANCE: [Kind; 3] = [Kind::RiskResponse, Kind::PoliceFeedback, Kind::PetitionAcceptance];

impl RoutingService {
    /// Starts a clock of `kind` for a case now, with the period of the case's place.
    async fn start_clock(
        &self,
        tx: &mut Transaction<'static, Any>,
        case_id: &str,
        kind: Kind,
    ) -> Result<(), HandlerError> {
        let case =
            store::find_case(tx, case_id).await?.ok_or_else(|| HandlerError(format!("case {case_id} unknown")))?;
        let period = self.regimes.period(kind, "", &case.division_code);
        clocks::start(tx, case_id, kind, period, self.regimes.timing(), now_micros()).await?;
        Ok(())
    }

    /// Starts, pauses, resumes and ends the case's clocks as its referral moves.
    pub(crate) async fn follow_clocks(
        &self,
        tx: &mut Transaction<'static, Any>,
        case_id: &str,
        to: ReferralState,
    ) -> Result<(), HandlerError> {
        let now = now_micros();
        match to {
            ReferralState::Accepted => {
                clocks::end(tx, case_id, &ANSWERED_BY_ACCEPTANCE, ClockState::Met, now).await?;
                let case = store::find_case(tx, case_id)
                    .await?
                    .ok_or_else(|| HandlerError(format!("case {case_id} unknown")))?;
                let mut kind = mediation_clock(&Dispute::decode(case.dispute.as_slice())?);
                if kind == Kind::PetitionHandling && answers_review(tx, case_id).await? {
                    kind = Kind::PetitionReviewAnswer;
                }
                self.start_clock(tx, case_id, kind).await?;
            }
            ReferralState::OnHold => {
                for kind in MEDIATION_CLOCKS {
                    clocks::pause(tx, case_id, kind, now).await?;
                }
            }
            ReferralState::InProgress => {
                for kind in MEDIATION_CLOCKS {
                    clocks::resume(tx, case_id, kind, now).await?;
                }
            }
            ReferralState::Completed => clocks::end(tx, case_id, &MEDIATION_CLOCKS, ClockState::Met, now).await?,
            ReferralState::Rejected | ReferralState::Failed | ReferralState::Cancelled => {
                clocks::end(tx, case_id, &MEDIATION_CLOCKS, ClockState::Stopped, now).await?
            }
            _ => {}
        }
        Ok(())
    }

    /// Remembers that a case answers a petitioner's review request; if it was
    /// accepted before this arrived, its answer runs on its own clock from now.
    pub async fn on_review_requested(
        &self,
        tx: &mut Transaction<'static, Any>,
        e: &PetitionReviewRequested,
    ) -> Result<(), HandlerError> {
        sqlx::query(
            "INSERT INTO petition_reviews (case_id, review_of_case_id, level) VALUES ($1, $2, $3)
             ON CONFLICT (case_id) DO NOTHING",
        )
        .bind(&e.case_id)
        .bind(&e.review_of_case_id)
        .bind(&e.level)
        .execute(&mut **tx)
        .await?;
        let running = clocks::of_case(tx, &e.case_id).await?.into_iter().any(|c| {
            c.kind == Kind::PetitionHandling.name()
                && matches!(ClockState::try_from(c.state), Ok(ClockState::Running | ClockState::Paused))
        });
        if running {
            clocks::end(tx, &e.case_id, &[Kind::PetitionHandling], ClockState::Stopped, now_micros()).await?;
            self.start_clock(tx, &e.case_id, Kind::PetitionReviewAnswer).await?;
        }
        Ok(())
    }

    /// Times the court on a judicial-confirmation application: acceptance
    /// within `clocks.confirmation_acceptance` of the application, a ruling
    /// within `clocks.confirmation_decision` of the acceptance.
    pub async fn on_confirmation(
        &self,
        tx: &mut Transaction<'static, Any>,
        kind: EventKind,
        case_id: &str,
    ) -> Result<(), HandlerError> {
        let (end, start) = match kind {
            EventKind::ConfirmationRequested => (None, Some(Kind::ConfirmationAcceptance)),
            EventKind::ConfirmationAccepted => (Some(Kind::ConfirmationAcceptance), Some(Kind::ConfirmationDecision)),
            _ => (Some(Kind::ConfirmationDecision), None),
        };
        if let Some(end) = end {
            clocks::end(tx, case_id, &[end], ClockState::Met, now_micros()).await?;
        }
        if let Some(start) = start {
            self.start_clock(tx, case_id, start).await?;
        }
        Ok(())
    }
}

/// True when the case answers a petitioner's review request.
async fn answers_review(tx: &mut Transaction<'static, Any>, case_id: &str) -> Result<bool, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as("SELECT case_id FROM petition_reviews WHERE case_id = $1")
        .bind(case_id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.is_some())
}

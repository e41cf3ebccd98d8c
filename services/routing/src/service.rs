//! Routing decisions: who should act on a case, why, and what happens when
//! they will not (escalation one level up; at the top, return to the sender).

use std::sync::Arc;

use fengqiao_domain::referral::{self, Action, Side};
use fengqiao_platform::bus::Envelope;
use fengqiao_platform::consumer::HandlerError;
use fengqiao_platform::db::now_micros;
use fengqiao_platform::grpc_trace::TracedChannel;
use fengqiao_platform::outbox::{self, OutboxNotifier};
use fengqiao_platform::status::Violation;
use fengqiao_platform::Database;
use fengqiao_proto::fengqiao::common::v1::{Actor, Dispute, MediationOutcome, ReferralState};
use fengqiao_proto::fengqiao::events::v1::{
    CaseReturned, CaseRiskChanged, MediationConcluded, ReferralRequested, ReferralStateChanged,
};
use fengqiao_proto::fengqiao::mediation::v1::mediation_service_client::MediationServiceClient;
use fengqiao_proto::fengqiao::mediation::v1::CancelReferralRequest;
use fengqiao_proto::fengqiao::routing::v1::{Clock, ClockState};
use fengqiao_proto::fengqiao::routing::v1::{Mediator, Organisation, Referral};
use fengqiao_proto::EventKind;
use prost::Message;
use sqlx::{Any, Transaction};

use crate::clocks::{self, Kind as ClockKind, Regimes};
use crate::decide;
use crate::directory::{self, Org};
use crate::rules::{CaseFacts, Rules};
use crate::store::{self, RoutedCase};
use crate::RoutingError;
use crate::{mediators, organisations};

mod receipts;
mod registration;

const COMPONENT: &str = "routing";

/// Routing over its database, calling mediation to revoke.
#[derive(Clone)]
pub struct RoutingService {
    db: Database,
    outbox: OutboxNotifier,
    mediation: MediationServiceClient<TracedChannel>,
    rules: Arc<Rules>,
    pub(crate) regimes: Regimes,
}

impl RoutingService {
    /// Routing over `db`; `mediation` is called for revokes and re-routes.
    pub fn new(
        db: Database,
        outbox: OutboxNotifier,
        mediation: TracedChannel,
        rules: Arc<Rules>,
        regimes: Regimes,
    ) -> Self {
        Self { db, outbox, mediation: MediationServiceClient::new(mediation), rules, regimes }
    }

    /// A case's clocks.
    pub async fn clocks(&self, case_id: &str) -> Result<Vec<Clock>, RoutingError> {
        let mut conn = self.db.pool().acquire().await?;
        Ok(clocks::of_case(&mut conn, case_id).await?)
    }

    /// Extends a clock with the consent it needs.
    pub async fn extend_clock(
        &self,
        clock_id: &str,
        period: &str,
        consented_by: &[String],
        reason: &str,
        actor: Option<Actor>,
    ) -> Result<Clock, RoutingError> {
        clocks::extend(&self.db, clock_id, period, consented_by, reason, actor, self.regimes.timing(), now_micros())
            .await
            .map_err(|e| match e {
                clocks::ExtendError::Invalid(v) => RoutingError::Invalid(v),
                clocks::ExtendError::NotFound => RoutingError::NotFound,
                clocks::ExtendError::Ended => RoutingError::Receiver(tonic::Status::failed_precondition(
                    "the clock has ended; only a running or paused clock is extended",
                )),
                clocks::ExtendError::Sql(e) => e.into(),
            })
    }

    /// Raises an alarm, once each, for referrals worked on without their clock.
    pub async fn alarm_missing_clocks(&self) -> Result<usize, RoutingError> {
        let n = clocks::alarm_missing(&self.db, now_micros()).await?;
        if n > 0 {
            self.outbox.notify();
        }
        Ok(n)
    }

    /// Breaches the clocks due by now and warns of those nearly due, each once.
    pub async fn breach_due_clocks(&self) -> Result<usize, RoutingError> {
        let now = now_micros();
        let n = clocks::breach_due(&self.db, now).await? + clocks::warn_due(&self.db, now).await?;
        if n > 0 {
            self.outbox.notify();
        }
        Ok(n)
    }

    /// Moves a case to `org_id` on staff's decision: the open referral, if
    /// any, is cancelled (only before work starts), then a new one requested.
    pub async fn reroute(
        &self,
        case_id: &str,
        org_id: &str,
        reason: &str,
        actor: Option<Actor>,
    ) -> Result<Referral, RoutingError> {
        let actor = actor.unwrap_or_default();
        let mut v = Vec::new();
        if reason.trim().is_empty() {
            v.push(Violation::new("reason", "is required: why the case moves"));
        }
        if actor.org_id.trim().is_empty() {
            v.push(Violation::new("actor.org_id", "is required: who decides"));
        }
        if !v.is_empty() {
            return Err(RoutingError::Invalid(v));
        }
        let mut conn = self.db.pool().acquire().await?;
        let case = store::find_case(&mut conn, case_id).await?.ok_or(RoutingError::NotFound)?;
        let target = directory::covering(&mut conn, &case.division_code).await?;
        let org = match target.into_iter().find(|o| o.org_id == org_id) {
            Some(org) => org,
            None => {
                let known = organisations::find(&mut conn, org_id).await?;
                return Err(RoutingError::Invalid(vec![Violation::new(
                    "org_id",
                    if known.is_some() { "does not cover the place of the case" } else { "is not in the directory" },
                )]));
            }
        };
        if refused_kinds(&case)?.contains(&org.kind) {
            return Err(RoutingError::Receiver(tonic::Status::failed_precondition(format!(
                "a party refused to share their data with {} organisations",
                org.kind
            ))));
        }
        let open =
            store::case_referrals(&mut conn, case_id).await?.into_iter().rev().find(|r| {
                !referral::is_terminal(ReferralState::try_from(r.state).unwrap_or(ReferralState::Unspecified))
            });
        drop(conn);
        if let Some(open) = open {
            self.mediation
                .clone()
                .cancel_referral(CancelReferralRequest {
                    referral_id: open.referral_id.clone(),
                    case_id: case_id.to_string(),
                    org_id: open.org_id.clone(),
                    sender: open.sender.clone(),
                    reason: format!("re-routed by {}: {}", actor.org_id, reason.trim()),
                    expected_state: open.state,
                })
                .await
                .map_err(RoutingError::Receiver)?;
        }
        let why = format!(
            "re-routed by {}{}: {}; to {} ({}/{} open)",
            actor.org_id,
            if actor.person_id.is_empty() { String::new() } else { format!(" ({})", actor.person_id) },
            reason.trim(),
            org.name,
            org.open,
            org.capacity
        );
        let mut tx = self.db.begin().await?;
        let referral = refer(&mut tx, &case, &org, why, "").await?;
        tx.commit().await?;
        self.outbox.notify();
        Ok(referral)
    }

    /// Cancels, at the receiving side, referrals not accepted within
    /// `timeout`; the cancellation event then escalates each case. Safe with
    /// several replicas: the cancel names the state it expects, so one wins.
    pub async fn time_out_unaccepted(&self, timeout: std::time::Duration) -> Result<usize, RoutingError> {
        let before = now_micros() - timeout.as_micros() as i64;
        let waiting = store::unaccepted_since(&mut *self.db.pool().acquire().await?, before, 50).await?;
        let mut given_up = 0;
        for r in waiting {
            store::set_timed_out(&mut *self.db.writer().acquire().await?, &r.referral_id, true).await?;
            let hours = timeout.as_secs_f64() / 3600.0;
            let answer = self
                .mediation
                .clone()
                .cancel_referral(CancelReferralRequest {
                    referral_id: r.referral_id.clone(),
                    case_id: r.case_id.clone(),
                    org_id: r.org_id.clone(),
                    sender: r.sender.clone(),
                    reason: format!("not accepted within {hours:.1} h; moved up a level"),
                    expected_state: r.state,
                })
                .await;
            // The flag stays: the cancellation's event escalates the case; if the
            // organisation accepted meanwhile, its acceptance clears the flag.
            match answer {
                Ok(_) => given_up += 1,
                Err(status) if status.code() == tonic::Code::FailedPrecondition => {}
                Err(status) => return Err(RoutingError::Receiver(status)),
            }
        }
        Ok(given_up)
    }

    /// Adds or replaces an organisation.
    pub async fn upsert_organisation(&self, o: Option<Organisation>) -> Result<(Organisation, bool), RoutingError> {
        let o = o.unwrap_or_default();
        let v = organisations::validate(&o);
        if !v.is_empty() {
            return Err(RoutingError::Invalid(v));
        }
        let mut conn = self.db.writer().acquire().await?;
        let created = organisations::upsert(&mut conn, &o).await?;
        let stored = organisations::find(&mut conn, &o.org_id).await?.ok_or(RoutingError::NotFound)?;
        Ok((stored, created))
    }

    /// A page of the directory.
    pub async fn organisations(
        &self,
        division_prefix: &str,
        kind: &str,
        page_size: u32,
        page_token: &str,
    ) -> Result<(Vec<Organisation>, String), RoutingError> {
        let limit = match page_size {
            0 => 100,
            n => n.min(1000),
        } as usize;
        let mut conn = self.db.pool().acquire().await?;
        let mut page = organisations::list(&mut conn, division_prefix, kind, page_token, limit as i64 + 1).await?;
        let next = if page.len() > limit {
            page.truncate(limit);
            page.last().map(|o| o.org_id.clone()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok((page, next))
    }

    /// Follows a change of the case's risk level: a running risk-response
    /// clock restarts with the new colour's period. Returns the case's place.
    pub async fn on_risk_changed(
        &self,
        tx: &mut Transaction<'static, Any>,
        ev: &CaseRiskChanged,
    ) -> Result<String, HandlerError> {
        let Some(case) = store::find_case(tx, &ev.case_id).await? else {
            return Err(HandlerError(format!("case {} is not known to routing yet", ev.case_id)));
        };
        store::set_risk(tx, &ev.case_id, ev.to_level).await?;
        let running = clocks::of_case(tx, &ev.case_id)
            .await?
            .into_iter()
            .any(|c| c.kind == ClockKind::RiskResponse.name() && c.state == ClockState::Running as i32);
        if running {
            let now = now_micros();
            clocks::end(tx, &ev.case_id, &[ClockKind::RiskResponse], ClockState::Stopped, now).await?;
            let colour = CaseFacts::new(0, 0, ev.to_level, 0).risk;
            let period = self.regimes.period(ClockKind::RiskResponse, &colour, &case.division_code);
            clocks::start(tx, &ev.case_id, ClockKind::RiskResponse, period, self.regimes.timing(), now).await?;
        }
        Ok(case.division_code)
    }

    /// Adds or replaces a mediator of an existing organisation.
    pub async fn upsert_mediator(&self, m: Option<Mediator>) -> Result<Mediator, RoutingError> {
        let m = m.unwrap_or_default();
        let v = mediators::validate(&m);
        if !v.is_empty() {
            return Err(RoutingError::Invalid(v));
        }
        let mut conn = self.db.writer().acquire().await?;
        if organisations::find(&mut conn, &m.org_id).await?.is_none() {
            return Err(RoutingError::Invalid(vec![Violation::new("mediator.org_id", "is not in the directory")]));
        }
        mediators::upsert(&mut conn, &m).await?;
        mediators::find(&mut conn, &m.mediator_id).await?.ok_or(RoutingError::NotFound)
    }

    /// An organisation's mediators.
    pub async fn mediators(&self, org_id: &str) -> Result<Vec<Mediator>, RoutingError> {
        let mut conn = self.db.pool().acquire().await?;
        Ok(mediators::of_org(&mut conn, org_id).await?)
    }

    /// Applies a move the receiving side announced; a rejection or failure
    /// escalates the case one level up.
    pub async fn on_referral_changed(
        &self,
        tx: &mut Transaction<'static, Any>,
        ev: &ReferralStateChanged,
    ) -> Result<(), HandlerError> {
        let Some((referral, level)) = store::find_referral(tx, &ev.referral_id).await? else {
            return Err(HandlerError(format!("referral {} is not known to routing yet", ev.referral_id)));
        };
        // A move delivered late, after later ones went through (a retry after a
        // crash): its copy, clocks and any escalation already happened past it.
        let current = ReferralState::try_from(referral.state).unwrap_or_default();
        if !fengqiao_domain::referral::is_newer(current, ev.from_state(), ev.to_state()) {
            return Ok(());
        }
        store::set_state(tx, &ev.referral_id, ev.to_state, &ev.reason, now_micros()).await?;
        let to = ReferralState::try_from(ev.to_state).unwrap_or(ReferralState::Unspecified);
        self.follow_clocks(tx, &referral.case_id, to).await?;
        if to == ReferralState::Accepted {
            store::set_timed_out(tx, &ev.referral_id, false).await?;
        }
        let gave_up = to == ReferralState::Cancelled && store::timed_out(tx, &ev.referral_id).await?;
        if !matches!(to, ReferralState::Rejected | ReferralState::Failed) && !gave_up {
            return Ok(());
        }
        let case = store::find_case(tx, &referral.case_id)
            .await?
            .ok_or_else(|| HandlerError(format!("case {} is not known to routing", referral.case_id)))?;
        let verb = match to {
            ReferralState::Rejected => "rejected",
            ReferralState::Cancelled => "did not accept in time",
            _ => "could not complete",
        };
        let covering = directory::covering(tx, &case.division_code).await?;
        let refused = refused_kinds(&case)?;
        match decide::next_level_up(&covering, level, &refused) {
            Some(org) => {
                let why = format!(
                    "escalated to the {} level: {} {verb} it ({}); next: {} ({}/{} open)",
                    directory::level_name(org.level),
                    referral.org_id,
                    ev.reason,
                    org.name,
                    org.open,
                    org.capacity
                );
                refer(tx, &case, org, why, "").await?;
            }
            None => {
                let reason =
                    format!("every level declined the case; the last, {}, {verb} it: {}", referral.org_id, ev.reason);
                return_case(tx, &case, &reason).await?;
            }
        }
        Ok(())
    }

    /// One referral.
    pub async fn get(&self, referral_id: &str) -> Result<Referral, RoutingError> {
        let mut conn = self.db.pool().acquire().await?;
        Ok(store::find_referral(&mut conn, referral_id).await?.ok_or(RoutingError::NotFound)?.0)
    }

    /// A case's referrals, oldest first.
    pub async fn case_referrals(&self, case_id: &str) -> Result<Vec<Referral>, RoutingError> {
        let mut conn = self.db.pool().acquire().await?;
        Ok(store::case_referrals(&mut conn, case_id).await?)
    }

    /// Revokes a referral for its sender. The receiving side decides against a
    /// racing accept; both sides then see the same state.
    pub async fn cancel(
        &self,
        referral_id: &str,
        actor: Option<Actor>,
        reason: &str,
        expected_state: i32,
    ) -> Result<Referral, RoutingError> {
        let sender = actor.map(|a| a.org_id).unwrap_or_default();
        let mut v = Vec::new();
        if sender.trim().is_empty() {
            v.push(Violation::new("actor.org_id", "is required: the sending agency"));
        }
        if reason.trim().is_empty() {
            v.push(Violation::new("reason", "is required: why the referral is revoked"));
        }
        if !v.is_empty() {
            return Err(RoutingError::Invalid(v));
        }
        let mut referral = self.get(referral_id).await?;
        if referral.sender != sender {
            return Err(RoutingError::NotFound);
        }
        let current = ReferralState::try_from(referral.state).unwrap_or(ReferralState::Unspecified);
        if referral::is_terminal(current) {
            let err = referral::transition(current, Action::Cancel, Side::Sender).expect_err("terminal");
            return Err(RoutingError::Receiver(tonic::Status::failed_precondition(err.to_string())));
        }
        let answer = self
            .mediation
            .clone()
            .cancel_referral(CancelReferralRequest {
                referral_id: referral.referral_id.clone(),
                case_id: referral.case_id.clone(),
                org_id: referral.org_id.clone(),
                sender,
                reason: reason.to_string(),
                expected_state,
            })
            .await
            .map_err(RoutingError::Receiver)?
            .into_inner();
        if let Some(item) = answer.item {
            referral.state = item.state;
            referral.reason = item.reason;
        }
        Ok(referral)
    }
}

/// The kinds of organisation the case's parties refused.
fn refused_kinds(case: &RoutedCase) -> Result<Vec<String>, HandlerError> {
    Ok(fengqiao_domain::org::refused_kinds(&Dispute::decode(case.dispute.as_slice())?))
}

/// A new referral to `choice`, with its event, in the caller's transaction.
async fn refer(
    tx: &mut Transaction<'static, Any>,
    case: &RoutedCase,
    choice: &Org,
    explanation: String,
    mediator_id: &str,
) -> Result<Referral, HandlerError> {
    let referral = new_referral(case, choice, explanation, mediator_id);
    store::insert_referral(tx, &referral, choice.level, now_micros()).await?;
    crate::supervision::facts::referred(tx, &case.case_id, &choice.org_id, choice.level).await?;
    announce_request(tx, case, &referral).await?;
    Ok(referral)
}

/// A new referral of `case` to `choice`, not yet written (logged as requested).
fn new_referral(case: &RoutedCase, choice: &Org, explanation: String, mediator_id: &str) -> Referral {
    let referral = Referral {
        referral_id: uuid::Uuid::now_v7().to_string(),
        case_id: case.case_id.clone(),
        org_id: choice.org_id.clone(),
        sender: case.source_agency.clone(),
        state: ReferralState::Requested as i32,
        explanation,
        mediator_id: mediator_id.to_string(),
        ..Default::default()
    };
    tracing::info!(case_id = %case.case_id, referral_id = %referral.referral_id, org_id = %choice.org_id, "referral requested");
    referral
}

/// Announces `referral` of `case` to its organisation (`fq.v1.referral.requested`);
/// the receiving side takes a referral id once, so announcing again is safe.
pub(crate) async fn announce_request(
    tx: &mut Transaction<'static, Any>,
    case: &RoutedCase,
    referral: &Referral,
) -> Result<(), HandlerError> {
    let dispute = Dispute::decode(case.dispute.as_slice())?;
    outbox::append(tx, &request_event(case, referral, &dispute)).await?;
    Ok(())
}

/// The event announcing `referral` of `case` to its organisation.
fn request_event(case: &RoutedCase, referral: &Referral, dispute: &Dispute) -> Envelope {
    let event = ReferralRequested {
        case_id: case.case_id.clone(),
        referral_id: referral.referral_id.clone(),
        org_id: referral.org_id.clone(),
        sender: referral.sender.clone(),
        explanation: referral.explanation.clone(),
        dispute: Some(dispute.clone()),
        case_no: case.case_no.clone(),
        risk_level: case.risk_level,
        mediator_id: referral.mediator_id.clone(),
    };
    Envelope::new(COMPONENT, EventKind::ReferralRequested, &event)
}

impl RoutingService {
    /// Returns a case whose mediation was terminated to its sender when the
    /// organisation asked (e.g. it turned criminal and goes back to the police).
    pub async fn on_concluded(
        &self,
        tx: &mut Transaction<'static, Any>,
        ev: &MediationConcluded,
    ) -> Result<(), HandlerError> {
        if ev.outcome != MediationOutcome::Terminated as i32 || !ev.return_to_source {
            return Ok(());
        }
        let case = store::find_case(tx, &ev.case_id)
            .await?
            .ok_or_else(|| HandlerError(format!("case {} unknown", ev.case_id)))?;
        let reason = format!("mediation terminated by {}: {}", ev.org_id, ev.summary);
        return_case(tx, &case, &reason).await
    }
}

/// Returns the case to its sender, with its event.
async fn return_case(tx: &mut Transaction<'static, Any>, case: &RoutedCase, reason: &str) -> Result<(), HandlerError> {
    store::mark_returned(tx, &case.case_id, reason).await?;
    outbox::append(tx, &returned_event(case, reason)).await?;
    Ok(())
}

/// The event returning `case` to its sender (logged as returned).
fn returned_event(case: &RoutedCase, reason: &str) -> Envelope {
    let event = CaseReturned {
        case_id: case.case_id.clone(),
        source_agency: case.source_agency.clone(),
        reason: reason.to_string(),
    };
    tracing::info!(case_id = %case.case_id, "case returned to its sender");
    Envelope::new(COMPONENT, EventKind::CaseReturned, &event)
}

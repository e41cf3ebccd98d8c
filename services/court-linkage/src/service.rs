//! The court's process: record a delegation, register its dispute once, keep
//! its result.

use fengqiao_domain::court_case_no::{self, CaseType};
use fengqiao_domain::referral;
use fengqiao_domain::result::Progress;
use fengqiao_platform::bus::Envelope;
use fengqiao_platform::consumer::HandlerError;
use fengqiao_platform::db::now_micros;
use fengqiao_platform::grpc_trace::TracedChannel;
use fengqiao_platform::status::{self, Violation};
use fengqiao_platform::Database;
use fengqiao_proto::fengqiao::common::v1::{ReferralState, Source};
use fengqiao_proto::fengqiao::court::v1::{
    Delegation, DelegationKind, RosterKind, RosterMember, SubmitDelegationRequest,
};
use fengqiao_proto::fengqiao::events::v1::ClockBreached;
use fengqiao_proto::fengqiao::intake::v1::intake_service_client::IntakeServiceClient;
use fengqiao_proto::fengqiao::intake::v1::RegisterCaseRequest;
use fengqiao_proto::EventKind;
use sqlx::{Any, Transaction};
use tonic::Status;

use crate::{results, store};

/// True when a court case number of `case_type` fits a delegation of `kind`.
fn fits(kind: DelegationKind, case_type: CaseType) -> bool {
    match kind {
        DelegationKind::PreLitigation => case_type == CaseType::PreLitigationMediation,
        _ => matches!(case_type, CaseType::FirstInstance | CaseType::SecondInstance),
    }
}

/// Court linkage over its database, registering through intake.
#[derive(Clone)]
pub struct CourtService {
    db: Database,
    intake: IntakeServiceClient<TracedChannel>,
}

fn source_of(kind: DelegationKind) -> Source {
    match kind {
        DelegationKind::PreLitigation => Source::CourtPreLitigation,
        _ => Source::CourtInLitigation,
    }
}

impl CourtService {
    /// Court linkage over `db`.
    pub fn new(db: Database, intake: IntakeServiceClient<TracedChannel>) -> Self {
        Self { db, intake }
    }

    /// Records a court's delegation or entrustment and registers its dispute;
    /// a resubmission of the same court number returns the first record.
    pub async fn submit(&self, r: SubmitDelegationRequest) -> Result<Delegation, Status> {
        let kind = DelegationKind::try_from(r.kind).unwrap_or(DelegationKind::Unspecified);
        let mut v = Vec::new();
        if r.court_id.trim().is_empty() {
            v.push(Violation::new("court_id", "is required"));
        }
        if kind == DelegationKind::Unspecified {
            v.push(Violation::new("kind", "is required: pre-litigation, or in-litigation ordinary or simplified"));
        }
        match court_case_no::parse(&r.court_case_no) {
            Err(e) => v.push(Violation::new("court_case_no", e)),
            Ok(n) if kind != DelegationKind::Unspecified && !fits(kind, n.case_type) => v.push(Violation::new(
                "court_case_no",
                "does not fit the kind: a pre-litigation delegation is numbered 民诉前调, an entrustment 民初 or 民终",
            )),
            Ok(_) => {}
        }
        let mut dispute = r.dispute.unwrap_or_default();
        if dispute.external_ref.is_empty() {
            dispute.external_ref = r.court_case_no.clone();
        } else if dispute.external_ref != r.court_case_no {
            v.push(Violation::new("dispute.external_ref", "must equal court_case_no (or be left empty)"));
        }
        if dispute.source == Source::Unspecified as i32 {
            dispute.source = source_of(kind) as i32;
        } else if kind != DelegationKind::Unspecified && dispute.source != source_of(kind) as i32 {
            v.push(Violation::new(
                "dispute.source",
                "must match kind: SOURCE_COURT_PRE_LITIGATION or SOURCE_COURT_IN_LITIGATION",
            ));
        }
        dispute.simplified_procedure = kind == DelegationKind::InLitigationSimplified;
        let mut conn = self.db.pool().acquire().await.map_err(status::database)?;
        let roster = store::roster(&mut conn, &r.court_id).await.map_err(status::database)?;
        for (field, id, want) in [
            ("dispute.preferred_org_id", &dispute.preferred_org_id, RosterKind::Organisation),
            ("dispute.preferred_mediator_id", &dispute.preferred_mediator_id, RosterKind::Mediator),
        ] {
            if !id.is_empty() && !roster.iter().any(|m| &m.member_id == id && m.kind == want as i32 && m.active) {
                v.push(Violation::new(
                    field,
                    format!("{id} is not an active member of the court's roster; see ListRoster"),
                ));
            }
        }
        if !v.is_empty() {
            return Err(status::invalid_argument(&v));
        }
        if let Some(d) =
            store::find_by_number(&mut conn, &r.court_id, &r.court_case_no).await.map_err(status::database)?
        {
            if d.judge == r.judge
                && d.kind == r.kind
                && d.designated_org_id == dispute.preferred_org_id
                && d.designated_mediator_id == dispute.preferred_mediator_id
            {
                return Ok(d);
            }
        }
        drop(conn);
        let designated = (dispute.preferred_org_id.clone(), dispute.preferred_mediator_id.clone());
        // Intake validates the dispute and answers with field violations under `dispute.`.
        let case = self
            .intake
            .clone()
            .register_case(RegisterCaseRequest { source_agency: r.court_id.clone(), dispute: Some(dispute) })
            .await?
            .into_inner()
            .case
            .ok_or_else(|| Status::internal("intake answered without a case"))?;
        let delegation = Delegation {
            delegation_id: uuid::Uuid::now_v7().to_string(),
            court_id: r.court_id.clone(),
            court_case_no: r.court_case_no.clone(),
            kind: kind as i32,
            judge: r.judge,
            case_id: case.case_id,
            designated_org_id: designated.0,
            designated_mediator_id: designated.1,
            ..Default::default()
        };
        let mut conn = self.db.writer().acquire().await.map_err(status::database)?;
        store::upsert(&mut conn, &delegation, true, now_micros()).await.map_err(status::database)?;
        store::find_by_number(&mut conn, &r.court_id, &r.court_case_no)
            .await
            .map_err(status::database)?
            .ok_or_else(|| Status::internal("the delegation vanished after it was recorded"))
    }

    /// One delegation.
    pub async fn get(&self, delegation_id: &str) -> Result<Delegation, Status> {
        let mut conn = self.db.pool().acquire().await.map_err(status::database)?;
        store::find(&mut conn, delegation_id)
            .await
            .map_err(status::database)?
            .ok_or_else(|| Status::not_found("no delegation with this id"))
    }

    /// A case's delegation, for the court that made it.
    pub async fn of_case(&self, case_id: &str, court_id: &str) -> Result<Delegation, Status> {
        let mut conn = self.db.pool().acquire().await.map_err(status::database)?;
        store::find_by_case(&mut conn, case_id)
            .await
            .map_err(status::database)?
            .filter(|d| d.court_id == court_id)
            .ok_or_else(|| Status::not_found("no delegation of this case by your court"))
    }

    /// Adds or replaces a member of a court's roster.
    pub async fn upsert_member(&self, m: RosterMember) -> Result<RosterMember, Status> {
        let mut v = Vec::new();
        for (field, value) in
            [("member.court_id", &m.court_id), ("member.member_id", &m.member_id), ("member.name", &m.name)]
        {
            if value.trim().is_empty() {
                v.push(Violation::new(field, "is required"));
            }
        }
        if RosterKind::try_from(m.kind).unwrap_or_default() == RosterKind::Unspecified {
            v.push(Violation::new("member.kind", "is ROSTER_KIND_ORGANISATION or ROSTER_KIND_MEDIATOR"));
        }
        if !v.is_empty() {
            return Err(status::invalid_argument(&v));
        }
        let mut conn = self.db.writer().acquire().await.map_err(status::database)?;
        store::upsert_member(&mut conn, &m).await.map_err(status::database)?;
        Ok(m)
    }

    /// A court's roster.
    pub async fn roster(&self, court_id: &str) -> Result<Vec<RosterMember>, Status> {
        let mut conn = self.db.pool().acquire().await.map_err(status::database)?;
        store::roster(&mut conn, court_id).await.map_err(status::database)
    }

    /// Keeps each court case's progress and outcome; other cases are ignored.
    pub async fn on_event(&self, tx: &mut Transaction<'static, Any>, event: &Envelope) -> Result<(), HandlerError> {
        let Some(kind) = event.kind() else {
            return Ok(());
        };
        let at = now_micros();
        if kind == EventKind::ClockBreached {
            let breached: ClockBreached = event.decode()?;
            if results::COURT_CLOCKS.contains(&breached.kind.as_str()) {
                let reason = "the mediation period ran out without an agreement (调解期限届满)".to_string();
                store::set_result(tx, &breached.case_id, &results::proceed(reason), at).await?;
            }
            return Ok(());
        }
        let Some(progress) = Progress::decode(kind, &event.payload) else {
            return Ok(());
        };
        match progress? {
            Progress::Registered(e) => {
                let d = e.dispute.unwrap_or_default();
                let kind = match Source::try_from(d.source) {
                    Ok(Source::CourtPreLitigation) => DelegationKind::PreLitigation,
                    Ok(Source::CourtInLitigation) => DelegationKind::InLitigationOrdinary,
                    _ => return Ok(()),
                };
                let delegation = Delegation {
                    delegation_id: uuid::Uuid::now_v7().to_string(),
                    court_id: e.source_agency,
                    court_case_no: d.external_ref,
                    kind: kind as i32,
                    case_id: e.case_id,
                    ..Default::default()
                };
                store::upsert(tx, &delegation, false, at).await?;
            }
            Progress::Requested(e) => {
                store::follow(tx, &e.case_id, &e.referral_id, ReferralState::Requested as i32, at).await?
            }
            Progress::Moved(e) => {
                let followed = store::followed(tx, &e.case_id).await?;
                if followed.is_some_and(|(referral, state)| referral::takes_move(&referral, state, &e)) {
                    store::set_state(tx, &e.case_id, &e.referral_id, e.to_state, at).await?
                }
            }
            Progress::Concluded(e) => {
                store::set_outcome(tx, &e.case_id, &e.referral_id, e.outcome, at).await?;
                store::set_result(tx, &e.case_id, &results::of_conclusion(&e), at).await?;
            }
            Progress::Returned(e) => {
                let reason = format!("no organisation could take the case: {}", e.reason);
                store::set_result(tx, &e.case_id, &results::proceed(reason), at).await?;
            }
        }
        Ok(())
    }
}

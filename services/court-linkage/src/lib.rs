//! Court linkage (诉调对接): the court's side of delegated and entrusted
//! mediation. A court's delegation is recorded against its case number, its
//! dispute is registered through intake, and the mediation's progress and
//! outcome are kept on the delegation for the court. Judicial confirmation and
//! the court's clocks arrive with issue #9.

mod confirmations;
mod results;
mod service;
mod store;

use std::sync::Arc;

use async_trait::async_trait;
use fengqiao_platform::bus::Envelope;
use fengqiao_platform::component::{Api, Component};
use fengqiao_platform::consumer::{concerns_tracked_cases, Consumer, EventHandler, HandlerError};
use fengqiao_platform::migrate::Migration;
use fengqiao_platform::Database;
use fengqiao_platform::{migration, ComponentRuntime};
use fengqiao_proto::fengqiao::court::v1::court_linkage_service_server::{self, CourtLinkageServiceServer};
use fengqiao_proto::fengqiao::court::v1::*;
use fengqiao_proto::fengqiao::intake::v1::intake_service_client::IntakeServiceClient;
use fengqiao_proto::fengqiao::routing::v1::routing_service_client::RoutingServiceClient;
use fengqiao_proto::EventKind;
use sqlx::{Any, Transaction};
use tonic::{Request, Response, Status};

use confirmations::Confirmations;
pub use service::CourtService;

/// The court-linkage component.
pub struct CourtLinkage;

#[async_trait]
impl Component for CourtLinkage {
    const NAME: &'static str = "court-linkage";
    const MIGRATIONS: &'static [Migration] = &[
        migration!("court-linkage", 1, shared "0001_delegations.sql", "delegations and their results"),
        migration!("court-linkage", 2, shared "0002_current_referral.sql", "the referral a record follows"),
        migration!("court-linkage", 3, shared "0003_results_and_roster.sql", "results for the court, the court's roster"),
        migration!("court-linkage", 4, shared "0004_confirmations.sql", "judicial confirmation applications"),
    ];

    async fn assemble(runtime: &ComponentRuntime) -> anyhow::Result<Api> {
        let intake = IntakeServiceClient::new(runtime.settings.channel_to("intake")?);
        let service = Arc::new(CourtService::new(runtime.db.clone(), intake));
        let mut courts = runtime.settings.confirmation_courts.clone();
        if courts.is_empty() && runtime.settings.seed_demo() {
            // The demo district's basic court confirms its agreements.
            courts.insert("620802".into(), "court-620802".into());
        }
        let routing = RoutingServiceClient::new(runtime.settings.channel_to("routing")?);
        let confirmations = Arc::new(Confirmations::new(runtime.db.clone(), runtime.outbox(), routing, courts));
        runtime
            .consume(Consumer::new(
                "court-linkage-results",
                &[
                    fengqiao_domain::result::tracked_events(),
                    vec![EventKind::ClockBreached, EventKind::ConfirmationRequested],
                ]
                .concat(),
                Arc::new(TrackResults(service.clone(), confirmations.clone())),
            ))
            .await?;
        Ok(Api {
            routes: tonic::service::Routes::new(CourtLinkageServiceServer::new(CourtGrpc(service, confirmations))),
            services: vec!["fengqiao.court.v1.CourtLinkageService"],
            front: None,
        })
    }
}

struct TrackResults(Arc<CourtService>, Arc<Confirmations>);

#[async_trait]
impl EventHandler for TrackResults {
    async fn handle(&self, tx: &mut Transaction<'static, Any>, event: &Envelope) -> Result<(), HandlerError> {
        if event.kind() == Some(EventKind::ConfirmationRequested) {
            return self.1.on_requested(tx, &event.decode()?).await;
        }
        self.0.on_event(tx, event).await
    }

    /// Court cases only: a registration from a court, a confirmation request,
    /// a court clock's breach or any event of a delegated case.
    async fn concerned(&self, db: &Database, events: &[&Envelope]) -> Result<Vec<bool>, HandlerError> {
        concerns_tracked_cases(db, events, "delegations", |event| {
            Ok(match event.kind() {
                Some(EventKind::ConfirmationRequested) => Some(true),
                Some(EventKind::CaseRegistered) => {
                    let registered: fengqiao_proto::fengqiao::events::v1::CaseRegistered = event.decode()?;
                    let source = registered.dispute.map(|d| d.source).unwrap_or_default();
                    Some(
                        source == fengqiao_proto::fengqiao::common::v1::Source::CourtPreLitigation as i32
                            || source == fengqiao_proto::fengqiao::common::v1::Source::CourtInLitigation as i32,
                    )
                }
                Some(EventKind::ClockBreached) => {
                    let breached: fengqiao_proto::fengqiao::events::v1::ClockBreached = event.decode()?;
                    // A court clock concerns the court when the case is delegated.
                    (!results::COURT_CLOCKS.contains(&breached.kind.as_str())).then_some(false)
                }
                _ => None,
            })
        })
        .await
    }
}

/// The gRPC adapter: translation only.
struct CourtGrpc(Arc<CourtService>, Arc<Confirmations>);

#[tonic::async_trait]
impl court_linkage_service_server::CourtLinkageService for CourtGrpc {
    async fn submit_delegation(
        &self,
        request: Request<SubmitDelegationRequest>,
    ) -> Result<Response<SubmitDelegationResponse>, Status> {
        let delegation = self.0.submit(request.into_inner()).await?;
        Ok(Response::new(SubmitDelegationResponse { delegation: Some(delegation) }))
    }

    async fn get_delegation(
        &self,
        request: Request<GetDelegationRequest>,
    ) -> Result<Response<GetDelegationResponse>, Status> {
        let delegation = self.0.get(&request.into_inner().delegation_id).await?;
        Ok(Response::new(GetDelegationResponse { delegation: Some(delegation) }))
    }

    async fn get_delegation_of_case(
        &self,
        request: Request<GetDelegationOfCaseRequest>,
    ) -> Result<Response<GetDelegationOfCaseResponse>, Status> {
        let r = request.into_inner();
        let delegation = self.0.of_case(&r.case_id, &r.court_id).await?;
        Ok(Response::new(GetDelegationOfCaseResponse { delegation: Some(delegation) }))
    }

    async fn upsert_roster_member(
        &self,
        request: Request<UpsertRosterMemberRequest>,
    ) -> Result<Response<UpsertRosterMemberResponse>, Status> {
        let member = self.0.upsert_member(request.into_inner().member.unwrap_or_default()).await?;
        Ok(Response::new(UpsertRosterMemberResponse { member: Some(member) }))
    }

    async fn list_roster(&self, request: Request<ListRosterRequest>) -> Result<Response<ListRosterResponse>, Status> {
        let members = self.0.roster(&request.into_inner().court_id).await?;
        Ok(Response::new(ListRosterResponse { members }))
    }

    async fn list_confirmations(
        &self,
        request: Request<ListConfirmationsRequest>,
    ) -> Result<Response<ListConfirmationsResponse>, Status> {
        let applications = self.1.list(&request.into_inner().court_id).await?;
        Ok(Response::new(ListConfirmationsResponse { applications }))
    }

    async fn accept_confirmation(
        &self,
        request: Request<AcceptConfirmationRequest>,
    ) -> Result<Response<AcceptConfirmationResponse>, Status> {
        let r = request.into_inner();
        let application = self.1.accept(&r.application_id, &r.court_id, &r.court_case_no).await?;
        Ok(Response::new(AcceptConfirmationResponse { application: Some(application) }))
    }

    async fn extend_confirmation_decision(
        &self,
        request: Request<ExtendConfirmationDecisionRequest>,
    ) -> Result<Response<ExtendConfirmationDecisionResponse>, Status> {
        let r = request.into_inner();
        let application = self.1.extend(&r.application_id, &r.court_id, &r.approved_by, &r.reason).await?;
        Ok(Response::new(ExtendConfirmationDecisionResponse { application: Some(application) }))
    }

    async fn decide_confirmation(
        &self,
        request: Request<DecideConfirmationRequest>,
    ) -> Result<Response<DecideConfirmationResponse>, Status> {
        let r = request.into_inner();
        let application = self.1.decide(&r.application_id, &r.court_id, r.valid, &r.reason).await?;
        Ok(Response::new(DecideConfirmationResponse { application: Some(application) }))
    }
}

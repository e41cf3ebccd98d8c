//! Petition linkage (访调对接): the petition bureau's side of matters referred
//! to mediation. A bureau's matter is recorded against its matter number, its
//! dispute is registered through intake, and the mediation's progress and
//! outcome are kept on the record for the bureau. Statutory clocks, leader
//! ownership and satisfaction arrive with issue #10.

mod rates;
mod reviews;
mod service;

use std::sync::Arc;

use async_trait::async_trait;
use fengqiao_platform::bus::Envelope;
use fengqiao_platform::component::{Api, Component};
use fengqiao_platform::consumer::{concerns_tracked_cases, Consumer, EventHandler, HandlerError};
use fengqiao_platform::migrate::Migration;
use fengqiao_platform::Database;
use fengqiao_platform::{migration, ComponentRuntime};
use fengqiao_proto::fengqiao::intake::v1::intake_service_client::IntakeServiceClient;
use fengqiao_proto::fengqiao::petition::v1::petition_linkage_service_server::{self, PetitionLinkageServiceServer};
use fengqiao_proto::fengqiao::petition::v1::*;
use fengqiao_proto::fengqiao::supervision::v1::supervision_service_client::SupervisionServiceClient;
use sqlx::{Any, Transaction};
use tonic::{Request, Response, Status};

pub use service::PetitionService;

/// The petition-linkage component.
pub struct PetitionLinkage;

#[async_trait]
impl Component for PetitionLinkage {
    const NAME: &'static str = "petition-linkage";
    const MIGRATIONS: &'static [Migration] = &[
        migration!("petition-linkage", 1, shared "0001_petitions.sql", "petition matters and their results"),
        migration!("petition-linkage", 2, shared "0002_current_referral.sql", "the referral a record follows"),
        migration!("petition-linkage", 3, shared "0003_petition_process.sql", "deadlines, reply, owner, repeats, satisfaction"),
        migration!("petition-linkage", 4, shared "0004_reviews.sql", "reviews and second reviews"),
    ];

    async fn assemble(runtime: &ComponentRuntime) -> anyhow::Result<Api> {
        let intake = IntakeServiceClient::new(runtime.settings.channel_to("intake")?);
        let supervision = SupervisionServiceClient::new(runtime.settings.channel_to("routing")?);
        let window = fengqiao_domain::period::Period::parse(&runtime.settings.clocks.petition_review_request)
            .map_err(|e| anyhow::anyhow!("configuration key `clocks.petition_review_request`: {e}"))?;
        let service = Arc::new(
            PetitionService::new(runtime.db.clone(), intake, supervision).with_reviews(runtime.outbox(), window),
        );
        runtime
            .consume(Consumer::new(
                "petition-linkage-results",
                &[fengqiao_domain::result::tracked_events(), vec![fengqiao_proto::EventKind::ClockScheduled]].concat(),
                Arc::new(TrackResults(service.clone())),
            ))
            .await?;
        Ok(Api {
            routes: tonic::service::Routes::new(PetitionLinkageServiceServer::new(PetitionGrpc(service))),
            services: vec!["fengqiao.petition.v1.PetitionLinkageService"],
            front: None,
        })
    }
}

struct TrackResults(Arc<PetitionService>);

#[async_trait]
impl EventHandler for TrackResults {
    async fn handle(&self, tx: &mut Transaction<'static, Any>, event: &Envelope) -> Result<(), HandlerError> {
        self.0.on_event(tx, event).await
    }

    /// Petition cases only: a registration from a bureau, or any event of a case with a petition record.
    async fn concerned(&self, db: &Database, events: &[&Envelope]) -> Result<Vec<bool>, HandlerError> {
        concerns_tracked_cases(db, events, "petitions", |event| {
            Ok(match event.kind() {
                Some(fengqiao_proto::EventKind::CaseRegistered) => {
                    let registered: fengqiao_proto::fengqiao::events::v1::CaseRegistered = event.decode()?;
                    let source = registered.dispute.map(|d| d.source).unwrap_or_default();
                    Some(source == fengqiao_proto::fengqiao::common::v1::Source::Petition as i32)
                }
                _ => None,
            })
        })
        .await
    }
}

/// The gRPC adapter: translation only.
struct PetitionGrpc(Arc<PetitionService>);

#[tonic::async_trait]
impl petition_linkage_service_server::PetitionLinkageService for PetitionGrpc {
    async fn submit_petition(
        &self,
        request: Request<SubmitPetitionRequest>,
    ) -> Result<Response<SubmitPetitionResponse>, Status> {
        let petition = self.0.submit(request.into_inner()).await?;
        Ok(Response::new(SubmitPetitionResponse { petition: Some(petition) }))
    }

    async fn get_petition(
        &self,
        request: Request<GetPetitionRequest>,
    ) -> Result<Response<GetPetitionResponse>, Status> {
        let petition = self.0.get(&request.into_inner().petition_id).await?;
        Ok(Response::new(GetPetitionResponse { petition: Some(petition) }))
    }

    async fn get_petition_of_case(
        &self,
        request: Request<GetPetitionOfCaseRequest>,
    ) -> Result<Response<GetPetitionOfCaseResponse>, Status> {
        let r = request.into_inner();
        let petition = self.0.of_case(&r.case_id, &r.bureau_id).await?;
        Ok(Response::new(GetPetitionOfCaseResponse { petition: Some(petition) }))
    }

    async fn record_satisfaction(
        &self,
        request: Request<RecordSatisfactionRequest>,
    ) -> Result<Response<RecordSatisfactionResponse>, Status> {
        let r = request.into_inner();
        let petition = self.0.record_satisfaction(&r.case_id, &r.bureau_id, r.satisfaction).await?;
        Ok(Response::new(RecordSatisfactionResponse { petition: Some(petition) }))
    }

    async fn get_petition_rates(
        &self,
        request: Request<GetPetitionRatesRequest>,
    ) -> Result<Response<GetPetitionRatesResponse>, Status> {
        let r = request.into_inner();
        let rates = self.0.rates(&r.bureau_id, &r.period).await?;
        Ok(Response::new(GetPetitionRatesResponse { rates: Some(rates) }))
    }

    async fn list_backlog(
        &self,
        request: Request<ListBacklogRequest>,
    ) -> Result<Response<ListBacklogResponse>, Status> {
        let items = self.0.backlog(&request.into_inner().bureau_id).await?;
        Ok(Response::new(ListBacklogResponse { items }))
    }
}

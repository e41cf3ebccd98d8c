//! The gRPC adapter of routing: translation only.

use std::sync::Arc;

use fengqiao_proto::fengqiao::routing::v1::*;
use tonic::{Request, Response, Status};

use fengqiao_platform::db::now_micros;

use crate::{RoutingService, Summons};

/// Serves [`RoutingService`] over gRPC.
pub struct RoutingGrpc {
    service: Arc<RoutingService>,
    summons: Summons,
}

impl RoutingGrpc {
    /// Wraps `service` and the joint summons.
    pub fn new(service: Arc<RoutingService>, summons: Summons) -> Self {
        Self { service, summons }
    }
}

fn micros(t: Option<prost_types::Timestamp>, default: i64) -> i64 {
    t.map_or(default, |t| fengqiao_platform::db::micros_of(&t))
}

#[tonic::async_trait]
impl routing_service_server::RoutingService for RoutingGrpc {
    async fn get_referral(
        &self,
        request: Request<GetReferralRequest>,
    ) -> Result<Response<GetReferralResponse>, Status> {
        let referral = self.service.get(&request.into_inner().referral_id).await?;
        Ok(Response::new(GetReferralResponse { referral: Some(referral) }))
    }

    async fn list_case_referrals(
        &self,
        request: Request<ListCaseReferralsRequest>,
    ) -> Result<Response<ListCaseReferralsResponse>, Status> {
        let referrals = self.service.case_referrals(&request.into_inner().case_id).await?;
        Ok(Response::new(ListCaseReferralsResponse { referrals }))
    }

    async fn cancel_referral(
        &self,
        request: Request<CancelReferralRequest>,
    ) -> Result<Response<CancelReferralResponse>, Status> {
        let r = request.into_inner();
        let referral = self.service.cancel(&r.referral_id, r.actor, &r.reason, r.expected_state).await?;
        Ok(Response::new(CancelReferralResponse { referral: Some(referral) }))
    }

    async fn reroute_case(
        &self,
        request: Request<RerouteCaseRequest>,
    ) -> Result<Response<RerouteCaseResponse>, Status> {
        let r = request.into_inner();
        let referral = self.service.reroute(&r.case_id, &r.org_id, &r.reason, r.actor).await?;
        Ok(Response::new(RerouteCaseResponse { referral: Some(referral) }))
    }

    async fn list_organisations(
        &self,
        request: Request<ListOrganisationsRequest>,
    ) -> Result<Response<ListOrganisationsResponse>, Status> {
        let r = request.into_inner();
        let (organisations, next_page_token) =
            self.service.organisations(&r.division_prefix, &r.kind, r.page_size, &r.page_token).await?;
        Ok(Response::new(ListOrganisationsResponse { organisations, next_page_token }))
    }

    async fn upsert_organisation(
        &self,
        request: Request<UpsertOrganisationRequest>,
    ) -> Result<Response<UpsertOrganisationResponse>, Status> {
        let (organisation, created) = self.service.upsert_organisation(request.into_inner().organisation).await?;
        Ok(Response::new(UpsertOrganisationResponse { organisation: Some(organisation), created }))
    }

    async fn summon_departments(
        &self,
        request: Request<SummonDepartmentsRequest>,
    ) -> Result<Response<SummonDepartmentsResponse>, Status> {
        let r = request.into_inner();
        let requests = self
            .summons
            .summon(&r.case_id, &r.departments, &r.request, r.response_hours, r.actor, now_micros())
            .await?;
        Ok(Response::new(SummonDepartmentsResponse { requests }))
    }

    async fn respond_to_summons(
        &self,
        request: Request<RespondToSummonsRequest>,
    ) -> Result<Response<RespondToSummonsResponse>, Status> {
        let r = request.into_inner();
        let answered = self.summons.respond(&r.assistance_id, &r.department, &r.response, now_micros()).await?;
        Ok(Response::new(RespondToSummonsResponse { request: Some(answered) }))
    }

    async fn list_case_summons(
        &self,
        request: Request<ListCaseSummonsRequest>,
    ) -> Result<Response<ListCaseSummonsResponse>, Status> {
        let requests = self.summons.of_case(&request.into_inner().case_id, now_micros()).await?;
        Ok(Response::new(ListCaseSummonsResponse { requests }))
    }

    async fn get_summons_response_rates(
        &self,
        request: Request<GetSummonsResponseRatesRequest>,
    ) -> Result<Response<GetSummonsResponseRatesResponse>, Status> {
        let r = request.into_inner();
        let now = now_micros();
        let rates = self.summons.response_rates(micros(r.from, 0), micros(r.to, now + 1), now).await?;
        Ok(Response::new(GetSummonsResponseRatesResponse { rates }))
    }

    async fn upsert_mediator(
        &self,
        request: Request<UpsertMediatorRequest>,
    ) -> Result<Response<UpsertMediatorResponse>, Status> {
        let mediator = self.service.upsert_mediator(request.into_inner().mediator).await?;
        Ok(Response::new(UpsertMediatorResponse { mediator: Some(mediator) }))
    }

    async fn list_mediators(
        &self,
        request: Request<ListMediatorsRequest>,
    ) -> Result<Response<ListMediatorsResponse>, Status> {
        let mediators = self.service.mediators(&request.into_inner().org_id).await?;
        Ok(Response::new(ListMediatorsResponse { mediators }))
    }

    async fn list_case_clocks(
        &self,
        request: Request<ListCaseClocksRequest>,
    ) -> Result<Response<ListCaseClocksResponse>, Status> {
        let clocks = self.service.clocks(&request.into_inner().case_id).await?;
        Ok(Response::new(ListCaseClocksResponse { clocks }))
    }

    async fn extend_clock(
        &self,
        request: Request<ExtendClockRequest>,
    ) -> Result<Response<ExtendClockResponse>, Status> {
        let r = request.into_inner();
        let clock = self.service.extend_clock(&r.clock_id, &r.period, &r.consented_by, &r.reason, r.actor).await?;
        Ok(Response::new(ExtendClockResponse { clock: Some(clock) }))
    }
}

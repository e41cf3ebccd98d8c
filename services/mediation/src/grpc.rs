//! The gRPC adapter of mediation: translation only.

use std::sync::Arc;

use fengqiao_domain::referral::Action;
use fengqiao_proto::fengqiao::common::v1::MediationOutcome;
use fengqiao_proto::fengqiao::mediation::v1::*;
use tonic::{Request, Response, Status};

use crate::service::{MediationService, Step};

/// Serves [`MediationService`] over gRPC.
pub struct MediationGrpc {
    service: Arc<MediationService>,
}

impl MediationGrpc {
    /// Wraps `service`.
    pub fn new(service: Arc<MediationService>) -> Self {
        Self { service }
    }

    async fn step(&self, referral_id: &str, step: Step) -> Result<Option<InboxItem>, Status> {
        Ok(Some(self.service.act(referral_id, step).await?))
    }
}

#[tonic::async_trait]
impl mediation_service_server::MediationService for MediationGrpc {
    async fn list_inbox(&self, request: Request<ListInboxRequest>) -> Result<Response<ListInboxResponse>, Status> {
        let r = request.into_inner();
        let page = self.service.inbox(&r.org_id, &r.states, r.page_size, &r.page_token).await?;
        Ok(Response::new(ListInboxResponse { items: page.items, next_page_token: page.next_page_token }))
    }

    async fn accept_referral(
        &self,
        request: Request<AcceptReferralRequest>,
    ) -> Result<Response<AcceptReferralResponse>, Status> {
        let r = request.into_inner();
        let item = self.step(&r.referral_id, Step::new(Action::Accept, r.actor.unwrap_or_default())).await?;
        Ok(Response::new(AcceptReferralResponse { item }))
    }

    async fn reject_referral(
        &self,
        request: Request<RejectReferralRequest>,
    ) -> Result<Response<RejectReferralResponse>, Status> {
        let r = request.into_inner();
        let step = Step { reason: r.reason, ..Step::new(Action::Reject, r.actor.unwrap_or_default()) };
        let item = self.step(&r.referral_id, step).await?;
        Ok(Response::new(RejectReferralResponse { item }))
    }

    async fn start_mediation(
        &self,
        request: Request<StartMediationRequest>,
    ) -> Result<Response<StartMediationResponse>, Status> {
        let r = request.into_inner();
        let item = self.step(&r.referral_id, Step::new(Action::Start, r.actor.unwrap_or_default())).await?;
        Ok(Response::new(StartMediationResponse { item }))
    }

    async fn conclude_mediation(
        &self,
        request: Request<ConcludeMediationRequest>,
    ) -> Result<Response<ConcludeMediationResponse>, Status> {
        let r = request.into_inner();
        let step = Step {
            outcome: MediationOutcome::try_from(r.outcome).unwrap_or(MediationOutcome::Unspecified),
            summary: r.summary,
            ..Step::new(Action::Complete, r.actor.unwrap_or_default())
        };
        let item = self.step(&r.referral_id, step).await?;
        Ok(Response::new(ConcludeMediationResponse { item }))
    }

    async fn cancel_referral(
        &self,
        request: Request<CancelReferralRequest>,
    ) -> Result<Response<CancelReferralResponse>, Status> {
        let item = self.service.cancel(request.into_inner()).await?;
        Ok(Response::new(CancelReferralResponse { item: Some(item) }))
    }

    async fn get_party_contacts(
        &self,
        request: Request<GetPartyContactsRequest>,
    ) -> Result<Response<GetPartyContactsResponse>, Status> {
        let r = request.into_inner();
        let parties = self.service.party_contacts(&r.referral_id, r.actor).await?;
        Ok(Response::new(GetPartyContactsResponse { parties }))
    }
}

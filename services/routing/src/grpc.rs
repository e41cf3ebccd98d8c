//! The gRPC adapter of routing: translation only.

use std::sync::Arc;

use fengqiao_proto::fengqiao::routing::v1::*;
use tonic::{Request, Response, Status};

use crate::RoutingService;

/// Serves [`RoutingService`] over gRPC.
pub struct RoutingGrpc {
    service: Arc<RoutingService>,
}

impl RoutingGrpc {
    /// Wraps `service`.
    pub fn new(service: Arc<RoutingService>) -> Self {
        Self { service }
    }
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
}

//! The gRPC adapter of intake: no rules here, only translation.

use std::sync::Arc;

use fengqiao_proto::fengqiao::common::v1::RiskLevel;
use fengqiao_proto::fengqiao::intake::v1::*;
use tonic::{Request, Response, Status};

use crate::IntakeService;

/// Serves [`IntakeService`] over gRPC.
pub struct IntakeGrpc {
    service: Arc<IntakeService>,
}

impl IntakeGrpc {
    /// Wraps `service`.
    pub fn new(service: Arc<IntakeService>) -> Self {
        Self { service }
    }
}

#[tonic::async_trait]
impl intake_service_server::IntakeService for IntakeGrpc {
    async fn register_case(
        &self,
        request: Request<RegisterCaseRequest>,
    ) -> Result<Response<RegisterCaseResponse>, Status> {
        let r = request.into_inner();
        let registered = self.service.register(&r.source_agency, r.dispute).await?;
        Ok(Response::new(RegisterCaseResponse { case: Some(registered.case), created: registered.created }))
    }

    async fn get_case(&self, request: Request<GetCaseRequest>) -> Result<Response<GetCaseResponse>, Status> {
        let case = self.service.get(&request.into_inner().case_id).await?;
        Ok(Response::new(GetCaseResponse { case: Some(case) }))
    }

    async fn get_lineage(&self, request: Request<GetLineageRequest>) -> Result<Response<GetLineageResponse>, Status> {
        let (cases, links) = self.service.lineage(&request.into_inner().case_id).await?;
        Ok(Response::new(GetLineageResponse { cases, links }))
    }

    async fn set_risk_level(
        &self,
        request: Request<SetRiskLevelRequest>,
    ) -> Result<Response<SetRiskLevelResponse>, Status> {
        let r = request.into_inner();
        let level = RiskLevel::try_from(r.risk_level).unwrap_or(RiskLevel::Unspecified);
        let case = self.service.set_risk_level(&r.case_id, level, &r.reason, r.actor).await?;
        Ok(Response::new(SetRiskLevelResponse { case: Some(case) }))
    }

    async fn reveal_parties(
        &self,
        request: Request<RevealPartiesRequest>,
    ) -> Result<Response<RevealPartiesResponse>, Status> {
        let r = request.into_inner();
        let parties = self.service.reveal_parties(&r.case_id, r.requester, &r.purpose).await?;
        Ok(Response::new(RevealPartiesResponse { parties }))
    }
}

//! The gRPC adapter of intake: no rules here, only translation.

use std::sync::Arc;

use fengqiao_proto::fengqiao::intake::v1::{
    intake_service_server, GetCaseRequest, GetCaseResponse, RegisterCaseRequest,
    RegisterCaseResponse,
};
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
        Ok(Response::new(RegisterCaseResponse {
            case: Some(registered.case),
            created: registered.created,
        }))
    }

    async fn get_case(
        &self,
        request: Request<GetCaseRequest>,
    ) -> Result<Response<GetCaseResponse>, Status> {
        let case = self.service.get(&request.into_inner().case_id).await?;
        Ok(Response::new(GetCaseResponse { case: Some(case) }))
    }
}

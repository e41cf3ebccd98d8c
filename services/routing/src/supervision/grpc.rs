//! The gRPC adapter of supervision: translation only.

use std::sync::Arc;

use fengqiao_proto::fengqiao::supervision::v1::supervision_service_server::SupervisionService;
use fengqiao_proto::fengqiao::supervision::v1::*;
use tonic::{Request, Response, Status};

use super::{figures, Supervision};

/// Serves [`Supervision`] over gRPC.
pub struct SupervisionGrpc(pub Arc<Supervision>);

#[tonic::async_trait]
impl SupervisionService for SupervisionGrpc {
    async fn list_alarms(&self, request: Request<ListAlarmsRequest>) -> Result<Response<ListAlarmsResponse>, Status> {
        let r = request.into_inner();
        let (alarms, next_page_token) = self
            .0
            .alarms(&r.kind, &r.case_id, r.include_cleared, r.page_size, &r.page_token, &r.division_prefix)
            .await?;
        Ok(Response::new(ListAlarmsResponse { alarms, next_page_token }))
    }

    async fn assign_case_owner(
        &self,
        request: Request<AssignCaseOwnerRequest>,
    ) -> Result<Response<AssignCaseOwnerResponse>, Status> {
        let r = request.into_inner();
        let owner = self.0.assign_owner(&r.case_id, &r.leader_id, r.actor).await?;
        Ok(Response::new(AssignCaseOwnerResponse { owner: Some(owner) }))
    }

    async fn acknowledge_case_ownership(
        &self,
        request: Request<AcknowledgeCaseOwnershipRequest>,
    ) -> Result<Response<AcknowledgeCaseOwnershipResponse>, Status> {
        let r = request.into_inner();
        let owner = self.0.acknowledge(&r.case_id, &r.leader_id).await?;
        Ok(Response::new(AcknowledgeCaseOwnershipResponse { owner: Some(owner) }))
    }

    async fn issue_supervision_notice(
        &self,
        request: Request<IssueSupervisionNoticeRequest>,
    ) -> Result<Response<IssueSupervisionNoticeResponse>, Status> {
        let r = request.into_inner();
        let notice = self.0.issue_notice(&r.case_id, &r.org_id, &r.demand, &r.response_period, r.actor).await?;
        Ok(Response::new(IssueSupervisionNoticeResponse { notice: Some(notice) }))
    }

    async fn respond_to_supervision_notice(
        &self,
        request: Request<RespondToSupervisionNoticeRequest>,
    ) -> Result<Response<RespondToSupervisionNoticeResponse>, Status> {
        let r = request.into_inner();
        let notice = self.0.respond(&r.notice_id, &r.response, r.actor).await?;
        Ok(Response::new(RespondToSupervisionNoticeResponse { notice: Some(notice) }))
    }

    async fn get_case_supervision(
        &self,
        request: Request<GetCaseSupervisionRequest>,
    ) -> Result<Response<GetCaseSupervisionResponse>, Status> {
        let (owner, notices) = self.0.of_case(&request.into_inner().case_id).await?;
        Ok(Response::new(GetCaseSupervisionResponse { owner, notices }))
    }

    async fn redrive_case(
        &self,
        request: Request<RedriveCaseRequest>,
    ) -> Result<Response<RedriveCaseResponse>, Status> {
        let r = request.into_inner();
        let referral_id = self.0.redrive(&r.case_id, r.actor).await?;
        Ok(Response::new(RedriveCaseResponse { referral_id }))
    }

    async fn get_supervision_figures(
        &self,
        request: Request<GetSupervisionFiguresRequest>,
    ) -> Result<Response<GetSupervisionFiguresResponse>, Status> {
        let r = request.into_inner();
        let (units, total) = self.0.figures(&r.period, r.dimension).await?;
        Ok(Response::new(GetSupervisionFiguresResponse { units, total: Some(total) }))
    }

    async fn export_supervision_figures(
        &self,
        request: Request<ExportSupervisionFiguresRequest>,
    ) -> Result<Response<ExportSupervisionFiguresResponse>, Status> {
        let r = request.into_inner();
        let (units, total) = self.0.figures(&r.period, r.dimension).await?;
        Ok(Response::new(ExportSupervisionFiguresResponse { csv: figures::to_csv(&units, &total) }))
    }
}

//! The gRPC adapter of mediation: translation only.

use std::sync::Arc;

use fengqiao_domain::referral::Action;
use fengqiao_platform::db::micros_of;
use fengqiao_proto::fengqiao::mediation::v1::*;
use tonic::{Request, Response, Status};

use crate::service::{MediationService, Step};
use crate::store::InboxFilter;

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
        let filter = InboxFilter {
            states: r.states,
            risk_levels: r.risk_levels,
            sources: r.sources,
            due_before: r.due_before.as_ref().map(micros_of),
            lead_mediator_id: Some(r.lead_mediator_id).filter(|m| !m.is_empty()),
        };
        let page = self.service.inbox(&r.org_id, &filter, r.page_size, &r.page_token).await?;
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
        let (item, agreement_document) = self.service.conclude(request.into_inner()).await?;
        Ok(Response::new(ConcludeMediationResponse { item: Some(item), agreement_document }))
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

    async fn get_case_work(
        &self,
        request: Request<GetCaseWorkRequest>,
    ) -> Result<Response<GetCaseWorkResponse>, Status> {
        let work = self.service.case_work(request.into_inner()).await?;
        Ok(Response::new(GetCaseWorkResponse { work: Some(work) }))
    }

    async fn assign_mediators(
        &self,
        request: Request<AssignMediatorsRequest>,
    ) -> Result<Response<AssignMediatorsResponse>, Status> {
        let mediators = self.service.assign_mediators(request.into_inner()).await?;
        Ok(Response::new(AssignMediatorsResponse { mediators }))
    }

    async fn invite_organisations(
        &self,
        request: Request<InviteOrganisationsRequest>,
    ) -> Result<Response<InviteOrganisationsResponse>, Status> {
        let joint_organisations = self.service.invite(request.into_inner()).await?;
        Ok(Response::new(InviteOrganisationsResponse { joint_organisations }))
    }

    async fn answer_joint_invitation(
        &self,
        request: Request<AnswerJointInvitationRequest>,
    ) -> Result<Response<AnswerJointInvitationResponse>, Status> {
        let joint = self.service.answer_invitation(request.into_inner()).await?;
        Ok(Response::new(AnswerJointInvitationResponse { joint_organisation: Some(joint) }))
    }

    async fn schedule_session(
        &self,
        request: Request<ScheduleSessionRequest>,
    ) -> Result<Response<ScheduleSessionResponse>, Status> {
        let session = self.service.schedule_session(request.into_inner()).await?;
        Ok(Response::new(ScheduleSessionResponse { session: Some(session) }))
    }

    async fn reschedule_session(
        &self,
        request: Request<RescheduleSessionRequest>,
    ) -> Result<Response<RescheduleSessionResponse>, Status> {
        let session = self.service.reschedule_session(request.into_inner()).await?;
        Ok(Response::new(RescheduleSessionResponse { session: Some(session) }))
    }

    async fn record_session(
        &self,
        request: Request<RecordSessionRequest>,
    ) -> Result<Response<RecordSessionResponse>, Status> {
        let session = self.service.record_session(request.into_inner()).await?;
        Ok(Response::new(RecordSessionResponse { session: Some(session) }))
    }

    async fn get_agreement_document(
        &self,
        request: Request<GetAgreementDocumentRequest>,
    ) -> Result<Response<GetAgreementDocumentResponse>, Status> {
        let document = self.service.agreement_document(request.into_inner()).await?;
        Ok(Response::new(GetAgreementDocumentResponse { document: Some(document) }))
    }

    async fn record_performance(
        &self,
        request: Request<RecordPerformanceRequest>,
    ) -> Result<Response<RecordPerformanceResponse>, Status> {
        let performance = self.service.record_performance(request.into_inner()).await?;
        Ok(Response::new(RecordPerformanceResponse { performance: Some(performance) }))
    }

    async fn record_return_visit(
        &self,
        request: Request<RecordReturnVisitRequest>,
    ) -> Result<Response<RecordReturnVisitResponse>, Status> {
        let visit = self.service.record_visit(request.into_inner()).await?;
        Ok(Response::new(RecordReturnVisitResponse { visit: Some(visit) }))
    }

    async fn add_file_document(
        &self,
        request: Request<AddFileDocumentRequest>,
    ) -> Result<Response<AddFileDocumentResponse>, Status> {
        let case_file = self.service.add_document(request.into_inner()).await?;
        Ok(Response::new(AddFileDocumentResponse { case_file: Some(case_file) }))
    }

    async fn set_difficulty_tier(
        &self,
        request: Request<SetDifficultyTierRequest>,
    ) -> Result<Response<SetDifficultyTierResponse>, Status> {
        let subsidy = self.service.set_tier(request.into_inner()).await?;
        Ok(Response::new(SetDifficultyTierResponse { subsidy: Some(subsidy) }))
    }

    async fn get_subsidy_statement(
        &self,
        request: Request<GetSubsidyStatementRequest>,
    ) -> Result<Response<GetSubsidyStatementResponse>, Status> {
        let r = request.into_inner();
        let statement = self.service.subsidy_statement(&r.org_id, &r.month).await?;
        Ok(Response::new(GetSubsidyStatementResponse { statement: Some(statement) }))
    }

    async fn get_work_statistics(
        &self,
        request: Request<GetWorkStatisticsRequest>,
    ) -> Result<Response<GetWorkStatisticsResponse>, Status> {
        let r = request.into_inner();
        let (organisation, mediators) = self.service.statistics(&r.org_id, &r.period).await?;
        Ok(Response::new(GetWorkStatisticsResponse { organisation: Some(organisation), mediators }))
    }

    async fn apply_for_confirmation(
        &self,
        request: Request<ApplyForConfirmationRequest>,
    ) -> Result<Response<ApplyForConfirmationResponse>, Status> {
        let confirmation = self.service.apply_for_confirmation(request.into_inner()).await?;
        Ok(Response::new(ApplyForConfirmationResponse { confirmation: Some(confirmation) }))
    }

    async fn hold_mediation(
        &self,
        request: Request<HoldMediationRequest>,
    ) -> Result<Response<HoldMediationResponse>, Status> {
        let r = request.into_inner();
        let step = Step { reason: r.reason, ..Step::new(Action::Hold, r.actor.unwrap_or_default()) };
        Ok(Response::new(HoldMediationResponse { item: self.step(&r.referral_id, step).await? }))
    }

    async fn resume_mediation(
        &self,
        request: Request<ResumeMediationRequest>,
    ) -> Result<Response<ResumeMediationResponse>, Status> {
        let r = request.into_inner();
        let item = self.step(&r.referral_id, Step::new(Action::Resume, r.actor.unwrap_or_default())).await?;
        Ok(Response::new(ResumeMediationResponse { item }))
    }
}

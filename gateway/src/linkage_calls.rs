//! The court's and the petition bureau's calls at the gateway: results,
//! confirmations, satisfaction, rates and backlog, each answered by court or
//! petition linkage for the calling agency only.

use fengqiao_proto::fengqiao::court::v1::{self as court, GetDelegationOfCaseRequest};
use fengqiao_proto::fengqiao::gateway::v1::*;
use fengqiao_proto::fengqiao::petition::v1 as petition;
use tonic::Status;

use crate::agency::{upstream, AgencyApi};
use crate::store::Agency;

impl AgencyApi {
    pub(crate) async fn handle_get_court_result(
        &self,
        agency: Agency,
        request: GetCourtResultRequest,
    ) -> Result<GetCourtResultResponse, Status> {
        let case_id = request.case_id;
        // Another agency's case, or a case not delegated by a court, is not found.
        self.owned_status(&agency, &case_id).await?;
        let delegation = self
            .court
            .clone()
            .get_delegation_of_case(GetDelegationOfCaseRequest { case_id, court_id: agency.agency_id.clone() })
            .await
            .map_err(upstream("court-linkage"))?
            .into_inner()
            .delegation;
        Ok(GetCourtResultResponse { delegation })
    }

    pub(crate) async fn handle_list_confirmations(
        &self,
        agency: Agency,
        _: ListConfirmationsRequest,
    ) -> Result<ListConfirmationsResponse, Status> {
        let r = court::ListConfirmationsRequest { court_id: agency.agency_id.clone() };
        let applications = self
            .court
            .clone()
            .list_confirmations(r)
            .await
            .map_err(upstream("court-linkage"))?
            .into_inner()
            .applications;
        Ok(ListConfirmationsResponse { applications })
    }

    pub(crate) async fn handle_accept_confirmation(
        &self,
        agency: Agency,
        r: AcceptConfirmationRequest,
    ) -> Result<AcceptConfirmationResponse, Status> {
        let r = court::AcceptConfirmationRequest {
            application_id: r.application_id,
            court_id: agency.agency_id.clone(),
            court_case_no: r.court_case_no,
        };
        let answer = self.court.clone().accept_confirmation(r).await.map_err(upstream("court-linkage"))?;
        Ok(AcceptConfirmationResponse { application: answer.into_inner().application })
    }

    pub(crate) async fn handle_extend_confirmation_decision(
        &self,
        agency: Agency,
        r: ExtendConfirmationDecisionRequest,
    ) -> Result<ExtendConfirmationDecisionResponse, Status> {
        let r = court::ExtendConfirmationDecisionRequest {
            application_id: r.application_id,
            court_id: agency.agency_id.clone(),
            approved_by: r.approved_by,
            reason: r.reason,
        };
        let answer = self.court.clone().extend_confirmation_decision(r).await.map_err(upstream("court-linkage"))?;
        Ok(ExtendConfirmationDecisionResponse { application: answer.into_inner().application })
    }

    pub(crate) async fn handle_decide_confirmation(
        &self,
        agency: Agency,
        r: DecideConfirmationRequest,
    ) -> Result<DecideConfirmationResponse, Status> {
        let r = court::DecideConfirmationRequest {
            application_id: r.application_id,
            court_id: agency.agency_id.clone(),
            valid: r.valid,
            reason: r.reason,
        };
        let answer = self.court.clone().decide_confirmation(r).await.map_err(upstream("court-linkage"))?;
        Ok(DecideConfirmationResponse { application: answer.into_inner().application })
    }

    pub(crate) async fn handle_get_petition_result(
        &self,
        agency: Agency,
        request: GetPetitionResultRequest,
    ) -> Result<GetPetitionResultResponse, Status> {
        let case_id = request.case_id;
        self.owned_status(&agency, &case_id).await?;
        let r = petition::GetPetitionOfCaseRequest { case_id, bureau_id: agency.agency_id.clone() };
        let answer = self.petition.clone().get_petition_of_case(r).await.map_err(upstream("petition-linkage"))?;
        Ok(GetPetitionResultResponse { petition: answer.into_inner().petition })
    }

    pub(crate) async fn handle_record_petition_satisfaction(
        &self,
        agency: Agency,
        r: RecordPetitionSatisfactionRequest,
    ) -> Result<RecordPetitionSatisfactionResponse, Status> {
        self.owned_status(&agency, &r.case_id).await?;
        let r = petition::RecordSatisfactionRequest {
            case_id: r.case_id,
            bureau_id: agency.agency_id.clone(),
            satisfaction: r.satisfaction,
        };
        let answer = self.petition.clone().record_satisfaction(r).await.map_err(upstream("petition-linkage"))?;
        Ok(RecordPetitionSatisfactionResponse { petition: answer.into_inner().petition })
    }

    pub(crate) async fn handle_get_petition_rates(
        &self,
        agency: Agency,
        request: GetPetitionRatesRequest,
    ) -> Result<GetPetitionRatesResponse, Status> {
        let r = petition::GetPetitionRatesRequest { bureau_id: agency.agency_id.clone(), period: request.period };
        let answer = self.petition.clone().get_petition_rates(r).await.map_err(upstream("petition-linkage"))?;
        Ok(GetPetitionRatesResponse { rates: answer.into_inner().rates })
    }

    pub(crate) async fn handle_list_petition_backlog(
        &self,
        agency: Agency,
        _: ListPetitionBacklogRequest,
    ) -> Result<ListPetitionBacklogResponse, Status> {
        let r = petition::ListBacklogRequest { bureau_id: agency.agency_id.clone() };
        let answer = self.petition.clone().list_backlog(r).await.map_err(upstream("petition-linkage"))?;
        Ok(ListPetitionBacklogResponse { items: answer.into_inner().items })
    }
}

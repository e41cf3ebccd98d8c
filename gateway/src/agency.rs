//! The agency API: authenticate the caller, hand its dispute to the right
//! component, and answer only about its own cases (another agency's case is
//! NOT_FOUND).

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fengqiao_domain::referral::is_terminal;
use fengqiao_platform::db::now_micros;
use fengqiao_platform::grpc_trace::TracedChannel;
use fengqiao_platform::metrics::gateway_stage;
use fengqiao_platform::status::{self, Violation};
use fengqiao_platform::Database;
use fengqiao_proto::fengqiao::common::v1::{Actor, ReferralState, Source};
use fengqiao_proto::fengqiao::court::v1::court_linkage_service_client::CourtLinkageServiceClient;
use fengqiao_proto::fengqiao::court::v1::{DelegationKind, SubmitDelegationRequest};
use fengqiao_proto::fengqiao::gateway::v1::agency_service_server::AgencyService;
use fengqiao_proto::fengqiao::gateway::v1::*;
use fengqiao_proto::fengqiao::intake::v1::intake_service_client::IntakeServiceClient;
use fengqiao_proto::fengqiao::intake::v1::RegisterCaseRequest;
use fengqiao_proto::fengqiao::petition::v1::petition_linkage_service_client::PetitionLinkageServiceClient;
use fengqiao_proto::fengqiao::petition::v1::SubmitPetitionRequest;
use fengqiao_proto::fengqiao::routing::v1::routing_service_client::RoutingServiceClient;
use fengqiao_proto::fengqiao::routing::v1::{CancelReferralRequest, ListCaseReferralsRequest};
use tokio::sync::{mpsc, Notify};
use tokio_stream::Stream;
use tonic::{Code, Request, Response, Status};

use crate::calls::Kind;
use crate::store::{self, Agency};

/// The most status changes a WatchStatus stream reads at once.
const WATCH_PAGE: i64 = 100;

/// The clients and state the agency API needs (cheap to clone).
#[derive(Clone)]
pub struct AgencyApi {
    pub(crate) db: Database,
    pub(crate) audit: crate::audit::AuditLog,
    /// Credentials kept while the gateway hears of every change to them.
    pub(crate) known: Arc<crate::credentials::known::Known>,
    /// The key of verification codes.
    pub(crate) codes: crate::codes::CodeKey,
    /// Owner rows of cases a call did not register itself (resubmissions, and court and
    /// petition cases, which their linkage registers), written together (group commit).
    pub(crate) owners: fengqiao_platform::group_commit::GroupCommit<store::Own>,
    /// Idempotency-Keys' first claims, written together (group commit).
    pub(crate) claims: fengqiao_platform::group_commit::GroupCommit<crate::idempotency::NewKey>,
    pub(crate) intake: IntakeServiceClient<TracedChannel>,
    pub(crate) routing: RoutingServiceClient<TracedChannel>,
    pub(crate) court: CourtLinkageServiceClient<TracedChannel>,
    pub(crate) petition: PetitionLinkageServiceClient<TracedChannel>,
    /// Rung when status changes are numbered or a callback is set (the callback deliverer listens).
    pub(crate) changed: Arc<Notify>,
    /// The bells of WatchStatus streams, per agency.
    pub(crate) watchers: Arc<crate::watchers::Watchers>,
    pub(crate) settings: fengqiao_platform::config::AgencyApiSettings,
    pub(crate) limits: Arc<crate::limits::Limits>,
    pub(crate) lookups: Arc<crate::lookup::Throttle>,
    pub(crate) pool: prost_reflect::DescriptorPool,
}

/// What an agency is told when a component behind the gateway fails: its
/// answer about the request passes through; a failure to reach it becomes
/// UNAVAILABLE with retry advice (every call here is safe to retry).
pub(crate) fn upstream(component: &'static str) -> impl Fn(Status) -> Status {
    move |s| match s.code() {
        Code::InvalidArgument
        | Code::NotFound
        | Code::FailedPrecondition
        | Code::AlreadyExists
        | Code::PermissionDenied => s,
        Code::Internal => s,
        _ => {
            tracing::warn!(component, code = ?s.code(), "upstream call failed");
            Status::unavailable(format!(
                "{component} is not answering; retry in a few seconds (resubmitting the same external_ref is safe)"
            ))
        }
    }
}

impl AgencyApi {
    /// The calling agency, if its credential holds and its kind may call `method`.
    pub(crate) async fn authorize<T>(&self, request: &Request<T>, method: &str) -> Result<Agency, Status> {
        let agency =
            crate::credentials::authenticate(&self.db, &self.known, request.metadata(), request.extensions()).await?;
        crate::scopes::check(&agency, method)?;
        Ok(agency)
    }

    /// The status of `case_id` if `agency` sent it (or, for an organisation,
    /// if the case is referred to it now); NOT_FOUND otherwise.
    pub(crate) async fn owned_status(&self, agency: &Agency, case_id: &str) -> Result<CaseStatus, Status> {
        self.owned(agency, case_id).await.map(|s| s.status)
    }

    /// [`Self::owned_status`], with the case's owner and verification code.
    async fn owned(&self, agency: &Agency, case_id: &str) -> Result<store::Stored, Status> {
        let mut conn = self.db.pool().acquire().await.map_err(status::database)?;
        let handling = |s: &CaseStatus| agency.kind == "organisation" && s.org_id == agency.agency_id;
        match store::status(&mut conn, case_id).await.map_err(status::database)? {
            Some(s) if s.owner == agency.agency_id || handling(&s.status) => Ok(s),
            _ => Err(Status::not_found("no case with this id among your agency's cases")),
        }
    }

    /// Hands `dispute` to the component that speaks the agency's process; returns (case id, case no).
    async fn hand_over(&self, agency: &Agency, r: SubmitDisputeRequest) -> Result<(String, String, bool), Status> {
        let dispute = r.dispute.unwrap_or_default();
        if agency.kind != "petition" {
            let given = [
                ("previous_handling", !r.previous_handling.is_empty()),
                ("leader_id", !r.leader_id.is_empty()),
                ("review_of_case_id", !r.review_of_case_id.is_empty()),
                ("review_level", r.review_level != 0),
            ];
            if let Some((field, _)) = given.iter().find(|(_, set)| *set) {
                return Err(status::invalid_argument(&[Violation::new(*field, "is given only by a petition bureau")]));
            }
        }
        check_jurisdiction(agency, &dispute)?;
        let source = Source::try_from(dispute.source).unwrap_or(Source::Unspecified);
        let allowed: &[Source] = match agency.kind.as_str() {
            "police" => &[Source::Police],
            "court" => &[Source::CourtPreLitigation, Source::CourtInLitigation],
            "petition" => &[Source::Petition],
            "centre" => &[Source::WalkIn, Source::Grid, Source::Hotline, Source::Online],
            _ => &[],
        };
        if !allowed.contains(&source) {
            let names: Vec<&str> = allowed.iter().map(|s| s.as_str_name()).collect();
            return Err(status::invalid_argument(&[Violation::new(
                "dispute.source",
                format!("a {} agency may submit only {}", agency.kind, names.join(" or ")),
            )]));
        }
        let external_ref = dispute.external_ref.clone();
        match agency.kind.as_str() {
            "court" => {
                let kind = if source == Source::CourtPreLitigation {
                    DelegationKind::PreLitigation
                } else if dispute.simplified_procedure {
                    DelegationKind::InLitigationSimplified
                } else {
                    DelegationKind::InLitigationOrdinary
                };
                let d = self
                    .court
                    .clone()
                    .submit_delegation(SubmitDelegationRequest {
                        court_id: agency.agency_id.clone(),
                        court_case_no: external_ref,
                        kind: kind as i32,
                        judge: String::new(),
                        dispute: Some(dispute),
                    })
                    .await
                    .map_err(upstream("court-linkage"))?
                    .into_inner()
                    .delegation
                    .unwrap_or_default();
                Ok((d.case_id, String::new(), false))
            }
            "petition" => {
                let p = self
                    .petition
                    .clone()
                    .submit_petition(SubmitPetitionRequest {
                        bureau_id: agency.agency_id.clone(),
                        matter_no: external_ref,
                        dispute: Some(dispute),
                        previous_handling: r.previous_handling,
                        leader_id: r.leader_id,
                        review_of_case_id: r.review_of_case_id,
                        review_level: r.review_level,
                    })
                    .await
                    .map_err(upstream("petition-linkage"))?
                    .into_inner()
                    .petition
                    .unwrap_or_default();
                Ok((p.case_id, String::new(), false))
            }
            _ => {
                let r = self
                    .intake
                    .clone()
                    .register_case(RegisterCaseRequest {
                        source_agency: agency.agency_id.clone(),
                        dispute: Some(dispute),
                    })
                    .await
                    .map_err(upstream("intake"))?
                    .into_inner();
                let case = r.case.unwrap_or_default();
                Ok((case.case_id, case.case_no, r.created))
            }
        }
    }
}

/// INVALID_ARGUMENT unless the dispute happened in the agency's county (the
/// county of its division code): an agency hands over only what lies in its
/// jurisdiction. A dispute without a location is left to intake's checks.
fn check_jurisdiction(agency: &Agency, dispute: &fengqiao_proto::fengqiao::common::v1::Dispute) -> Result<(), Status> {
    let place = dispute.location.as_ref().map(|l| l.division_code.as_str()).unwrap_or_default();
    let (Some(county), Some(ours)) =
        (fengqiao_domain::case_no::county_of(place), fengqiao_domain::case_no::county_of(&agency.division_code))
    else {
        return Ok(());
    };
    if county == ours {
        return Ok(());
    }
    Err(status::invalid_argument(&[Violation::new(
        "dispute.location.division_code",
        format!("lies outside your agency's jurisdiction (county {ours}); send it to that county's agency instead"),
    )]))
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchStatusResponse, Status>> + Send>>;

impl AgencyApi {
    /// Hands the dispute over; a new case's owner row is left for the call's
    /// audit commit (returned with the answer), any other's written here.
    async fn handle_submit_dispute(
        &self,
        agency: Agency,
        r: SubmitDisputeRequest,
    ) -> Result<(SubmitDisputeResponse, Option<store::Own>), Status> {
        let external_ref = r
            .dispute
            .as_ref()
            .ok_or_else(|| status::invalid_argument(&[Violation::new("dispute", "is required")]))?
            .external_ref
            .trim()
            .to_string();
        let started = Instant::now();
        let handed = self.hand_over(&agency, r).await;
        gateway_stage("SubmitDispute", "hand_over", started);
        let (case_id, case_no, created) = handed?;
        let first = CaseStatus { case_id: case_id.clone(), case_no, external_ref, ..Default::default() };
        let verification_code = self.codes.code_for(&case_id);
        let own =
            store::Own { agency_id: agency.agency_id.clone(), status: first, verification_code, at: now_micros() };
        if created {
            // Registered by this call: no one else can own the case, and a resubmission racing
            // this call writes the same row and code. The answer is that row.
            let stored = own.as_stored();
            let answer = SubmitDisputeResponse {
                status: Some(stored.status),
                created,
                verification_code: stored.verification_code,
            };
            return Ok((answer, Some(own)));
        }
        let started = Instant::now();
        let stored = self.owners.write(own).await;
        gateway_stage("SubmitDispute", "ownership", started);
        let owner = stored.map_err(status::database)?;
        if owner.owner != agency.agency_id {
            // The case's registration names another agency as its sender: not this one's to see.
            return Err(Status::not_found("no case with this id among your agency's cases"));
        }
        // Sent before (or numbered by a linkage): where it stands now.
        let mut conn = self.db.pool().acquire().await.map_err(status::database)?;
        let stored = store::status(&mut conn, &case_id).await.map_err(status::database)?;
        let status = stored.map_or(owner.status, |s| s.status);
        let answer =
            SubmitDisputeResponse { status: Some(status), created, verification_code: owner.verification_code };
        Ok((answer, None))
    }

    async fn handle_get_status(&self, agency: Agency, request: GetStatusRequest) -> Result<GetStatusResponse, Status> {
        let status = self.owned_status(&agency, &request.case_id).await?;
        Ok(GetStatusResponse { status: Some(status) })
    }

    async fn handle_revoke_referral(
        &self,
        agency: Agency,
        r: RevokeReferralRequest,
    ) -> Result<RevokeReferralResponse, Status> {
        let mut status = self.owned_status(&agency, &r.case_id).await?;
        if r.reason.trim().is_empty() {
            return Err(status::invalid_argument(&[Violation::new(
                "reason",
                "is required: why your agency revokes the hand-off",
            )]));
        }
        let referrals = self
            .routing
            .clone()
            .list_case_referrals(ListCaseReferralsRequest { case_id: r.case_id.clone() })
            .await
            .map_err(upstream("routing"))?
            .into_inner()
            .referrals;
        let active = referrals
            .iter()
            .rev()
            .find(|x| !is_terminal(ReferralState::try_from(x.state).unwrap_or(ReferralState::Unspecified)))
            .ok_or_else(|| Status::failed_precondition("the case has no open referral to revoke"))?;
        let answer = self
            .routing
            .clone()
            .cancel_referral(CancelReferralRequest {
                referral_id: active.referral_id.clone(),
                actor: Some(Actor { org_id: agency.agency_id.clone(), ..Default::default() }),
                reason: r.reason.clone(),
                // The state the agency saw, unless it names one.
                expected_state: if r.if_state != 0 { r.if_state } else { status.referral_state },
            })
            .await
            .map_err(upstream("routing"))?
            .into_inner()
            .referral
            .unwrap_or_default();
        status.referral_state = answer.state;
        status.reason = answer.reason;
        Ok(RevokeReferralResponse { status: Some(status) })
    }
}

#[tonic::async_trait]
impl AgencyService for AgencyApi {
    async fn submit_dispute(
        &self,
        request: Request<SubmitDisputeRequest>,
    ) -> Result<Response<SubmitDisputeResponse>, Status> {
        let work = |agency, r| self.handle_submit_dispute(agency, r);
        self.serve_owning(request, "SubmitDispute", Kind::Mutating, work).await
    }

    async fn get_status(&self, request: Request<GetStatusRequest>) -> Result<Response<GetStatusResponse>, Status> {
        self.serve(request, "GetStatus", Kind::Read, |agency, r| self.handle_get_status(agency, r)).await
    }

    type WatchStatusStream = WatchStream;

    async fn watch_status(
        &self,
        request: Request<WatchStatusRequest>,
    ) -> Result<Response<Self::WatchStatusStream>, Status> {
        let agency = self.open_stream(&request, "WatchStatus").await?;
        let cursor = request.into_inner().cursor;
        let mut after = crate::callbacks::parse_cursor(&cursor, "cursor")?;
        let (tx, rx) = mpsc::channel(64);
        let api = self.clone();
        let bell = self.watchers.bell(&agency.agency_id);
        tokio::spawn(async move {
            loop {
                let changed = bell.notified();
                let page = match api.db.pool().acquire().await {
                    Ok(mut conn) => store::log_after(&mut conn, &agency.agency_id, after, WATCH_PAGE).await,
                    Err(e) => Err(e),
                };
                let page = match page {
                    Ok(page) => page,
                    Err(e) => {
                        let _ = tx.send(Err(status::database(e))).await;
                        return;
                    }
                };
                // A short page is all there was when it was read; anything later rings the bell
                // (taken before the read), so waiting now misses nothing and saves a read that
                // would find nothing (half of the streams' reads did).
                let caught_up = page.len() < WATCH_PAGE as usize;
                for (seq, status) in page {
                    after = seq;
                    let item = WatchStatusResponse { status: Some(status), cursor: seq.to_string() };
                    if tx.send(Ok(item)).await.is_err() {
                        return; // the agency went away
                    }
                }
                if caught_up {
                    tokio::select! {
                        _ = changed => {}
                        // Rung for this agency's news (crate::watchers); the wait is bounded all the same.
                        _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                        _ = tx.closed() => return,
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }

    async fn list_status_changes(
        &self,
        request: Request<ListStatusChangesRequest>,
    ) -> Result<Response<ListStatusChangesResponse>, Status> {
        self.serve(request, "ListStatusChanges", Kind::Read, |agency, r| self.handle_list_status_changes(agency, r))
            .await
    }

    async fn set_callback(
        &self,
        request: Request<SetCallbackRequest>,
    ) -> Result<Response<SetCallbackResponse>, Status> {
        self.serve(request, "SetCallback", Kind::Mutating, |agency, r| self.handle_set_callback(agency, r)).await
    }

    async fn get_callback(
        &self,
        request: Request<GetCallbackRequest>,
    ) -> Result<Response<GetCallbackResponse>, Status> {
        self.serve(request, "GetCallback", Kind::Read, |agency, r| self.handle_get_callback(agency, r)).await
    }

    async fn delete_callback(
        &self,
        request: Request<DeleteCallbackRequest>,
    ) -> Result<Response<DeleteCallbackResponse>, Status> {
        self.serve(request, "DeleteCallback", Kind::Mutating, |agency, r| self.handle_delete_callback(agency, r)).await
    }

    async fn list_callback_dead_letters(
        &self,
        request: Request<ListCallbackDeadLettersRequest>,
    ) -> Result<Response<ListCallbackDeadLettersResponse>, Status> {
        self.serve(request, "ListCallbackDeadLetters", Kind::Read, |agency, r| {
            self.handle_list_callback_dead_letters(agency, r)
        })
        .await
    }

    async fn lookup_progress(
        &self,
        request: Request<LookupProgressRequest>,
    ) -> Result<Response<LookupProgressResponse>, Status> {
        self.serve(request, "LookupProgress", Kind::Read, |agency, r| self.handle_lookup_progress(agency, r)).await
    }

    async fn lookup_access(
        &self,
        request: Request<LookupAccessRequest>,
    ) -> Result<Response<LookupAccessResponse>, Status> {
        self.serve(request, "LookupAccess", Kind::Read, |agency, r| self.handle_lookup_access(agency, r)).await
    }

    async fn list_case_calls(
        &self,
        request: Request<ListCaseCallsRequest>,
    ) -> Result<Response<ListCaseCallsResponse>, Status> {
        self.serve(request, "ListCaseCalls", Kind::Read, |agency, r| self.handle_list_case_calls(agency, r)).await
    }

    async fn revoke_referral(
        &self,
        request: Request<RevokeReferralRequest>,
    ) -> Result<Response<RevokeReferralResponse>, Status> {
        self.serve(request, "RevokeReferral", Kind::Mutating, |agency, r| self.handle_revoke_referral(agency, r)).await
    }

    async fn get_court_result(
        &self,
        request: Request<GetCourtResultRequest>,
    ) -> Result<Response<GetCourtResultResponse>, Status> {
        self.serve(request, "GetCourtResult", Kind::Read, |agency, r| self.handle_get_court_result(agency, r)).await
    }

    async fn list_confirmations(
        &self,
        request: Request<ListConfirmationsRequest>,
    ) -> Result<Response<ListConfirmationsResponse>, Status> {
        self.serve(request, "ListConfirmations", Kind::Read, |agency, r| self.handle_list_confirmations(agency, r))
            .await
    }

    async fn accept_confirmation(
        &self,
        request: Request<AcceptConfirmationRequest>,
    ) -> Result<Response<AcceptConfirmationResponse>, Status> {
        self.serve(request, "AcceptConfirmation", Kind::Mutating, |agency, r| {
            self.handle_accept_confirmation(agency, r)
        })
        .await
    }

    async fn extend_confirmation_decision(
        &self,
        request: Request<ExtendConfirmationDecisionRequest>,
    ) -> Result<Response<ExtendConfirmationDecisionResponse>, Status> {
        self.serve(request, "ExtendConfirmationDecision", Kind::Mutating, |agency, r| {
            self.handle_extend_confirmation_decision(agency, r)
        })
        .await
    }

    async fn decide_confirmation(
        &self,
        request: Request<DecideConfirmationRequest>,
    ) -> Result<Response<DecideConfirmationResponse>, Status> {
        self.serve(request, "DecideConfirmation", Kind::Mutating, |agency, r| {
            self.handle_decide_confirmation(agency, r)
        })
        .await
    }

    async fn get_petition_result(
        &self,
        request: Request<GetPetitionResultRequest>,
    ) -> Result<Response<GetPetitionResultResponse>, Status> {
        self.serve(request, "GetPetitionResult", Kind::Read, |agency, r| self.handle_get_petition_result(agency, r))
            .await
    }

    async fn record_petition_satisfaction(
        &self,
        request: Request<RecordPetitionSatisfactionRequest>,
    ) -> Result<Response<RecordPetitionSatisfactionResponse>, Status> {
        self.serve(request, "RecordPetitionSatisfaction", Kind::Mutating, |agency, r| {
            self.handle_record_petition_satisfaction(agency, r)
        })
        .await
    }

    async fn get_petition_rates(
        &self,
        request: Request<GetPetitionRatesRequest>,
    ) -> Result<Response<GetPetitionRatesResponse>, Status> {
        self.serve(request, "GetPetitionRates", Kind::Read, |agency, r| self.handle_get_petition_rates(agency, r)).await
    }

    async fn list_petition_backlog(
        &self,
        request: Request<ListPetitionBacklogRequest>,
    ) -> Result<Response<ListPetitionBacklogResponse>, Status> {
        self.serve(request, "ListPetitionBacklog", Kind::Read, |agency, r| self.handle_list_petition_backlog(agency, r))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_connection_is_unavailable_but_an_answer_passes_through() {
        let map = upstream("intake");
        for broken in [Status::cancelled("operation was canceled"), Status::unavailable("x"), Status::unknown("h2")] {
            let s = map(broken);
            assert_eq!(s.code(), Code::Unavailable);
            assert!(s.message().contains("retry"));
        }
        for answer in [Status::invalid_argument("x"), Status::failed_precondition("y"), Status::not_found("z")] {
            assert_eq!(map(answer.clone()).code(), answer.code());
        }
    }
}

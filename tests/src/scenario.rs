//! What an agency system and an organisation's staff do, as calls on a running system.

use std::time::{Duration, Instant};

use fengqiao_proto::fengqiao::common::v1::*;
use fengqiao_proto::fengqiao::court::v1::ConfirmationApplication;
use fengqiao_proto::fengqiao::gateway::v1::agency_service_client::AgencyServiceClient;
use fengqiao_proto::fengqiao::gateway::v1::*;
use fengqiao_proto::fengqiao::mediation::v1::mediation_service_client::MediationServiceClient;
use fengqiao_proto::fengqiao::mediation::v1::*;
use tonic::transport::Channel;
use tonic::{Request, Status};

use crate::system::System;

/// The demo police station, court and petition bureau.
pub const POLICE: &str = "police-620802-dongguan";
/// The demo court.
pub const COURT: &str = "court-620802";
/// The demo petition bureau.
pub const PETITION: &str = "petition-620802";
/// A village of Kongtong district (解放中路社区) and its committee.
/// The county's mediation centre (the console registers and looks up as it).
pub const CENTRE: &str = "centre-620802";
/// The demo village.
pub const VILLAGE: &str = "620802001001";
/// The village's mediation committee in the demo directory.
pub const VILLAGE_ORG: &str = "village-620802001001";
/// Its township's committee (东关街道).
pub const TOWNSHIP_ORG: &str = "township-620802001";
/// The county centre.
pub const COUNTY_ORG: &str = "county-620802-centre";
/// The court's mediation office (where the court's cases go by default).
pub const COURT_OFFICE_ORG: &str = "court-620802-office";
/// The petition mediation committee (where the bureau's matters go by default).
pub const PETITION_COMMITTEE_ORG: &str = "petition-620802-committee";

/// A dispute as an agency would send it.
pub fn dispute(source: Source, external_ref: &str) -> Dispute {
    Dispute {
        source: source as i32,
        external_ref: external_ref.into(),
        category: Category::Neighbourhood as i32,
        parties: vec![
            Party { role: PartyRole::Applicant as i32, name: "张三".into(), ..Default::default() },
            Party { role: PartyRole::Respondent as i32, name: "李四".into(), ..Default::default() },
        ],
        location: Some(Location { division_code: VILLAGE.into(), ..Default::default() }),
        headcount: 2,
        narrative: "楼上装修噪音纠纷".into(),
        ..Default::default()
    }
}

/// An agency system's session with the gateway.
pub struct AgencySession {
    client: AgencyServiceClient<Channel>,
    token: String,
}

impl AgencySession {
    /// Connects as `agency`.
    pub async fn connect(system: &System, agency: &str) -> Self {
        let channel = crate::channel(system.addr("gateway")).await.unwrap();
        Self { client: AgencyServiceClient::new(channel), token: system.token(agency) }
    }

    fn authed<T>(&self, message: T) -> Request<T> {
        let mut r = Request::new(message);
        r.metadata_mut().insert("authorization", format!("Bearer {}", self.token).parse().unwrap());
        r
    }

    /// Submits a dispute.
    pub async fn submit(&self, dispute: Dispute) -> Result<SubmitDisputeResponse, Status> {
        self.submit_with(SubmitDisputeRequest { dispute: Some(dispute), ..Default::default() }).await
    }

    /// Submits a request as given (a bureau's previous handling and leader, say).
    pub async fn submit_with(&self, request: SubmitDisputeRequest) -> Result<SubmitDisputeResponse, Status> {
        let r = self.authed(request);
        Ok(self.client.clone().submit_dispute(r).await?.into_inner())
    }

    /// Submits a dispute with metadata of the caller's: its trace (`traceparent`), an `idempotency-key`.
    pub async fn submit_carrying(
        &self,
        dispute: Dispute,
        metadata: &[(&'static str, &str)],
    ) -> Result<SubmitDisputeResponse, Status> {
        let mut r = self.authed(SubmitDisputeRequest { dispute: Some(dispute), ..Default::default() });
        for (key, value) in metadata {
            r.metadata_mut().insert(*key, value.parse().expect("a valid metadata value"));
        }
        Ok(self.client.clone().submit_dispute(r).await?.into_inner())
    }

    /// The status of a case.
    pub async fn status(&self, case_id: &str) -> Result<CaseStatus, Status> {
        let r = self.authed(GetStatusRequest { case_id: case_id.into() });
        Ok(self.client.clone().get_status(r).await?.into_inner().status.unwrap_or_default())
    }

    /// A court's delegation of a case with its result.
    pub async fn court_result(&self, case_id: &str) -> Result<fengqiao_proto::fengqiao::court::v1::Delegation, Status> {
        let r = self.authed(GetCourtResultRequest { case_id: case_id.into() });
        Ok(self.client.clone().get_court_result(r).await?.into_inner().delegation.unwrap_or_default())
    }

    /// A bureau's matter of a case with its result.
    pub async fn petition_result(
        &self,
        case_id: &str,
    ) -> Result<fengqiao_proto::fengqiao::petition::v1::Petition, Status> {
        let r = self.authed(GetPetitionResultRequest { case_id: case_id.into() });
        Ok(self.client.clone().get_petition_result(r).await?.into_inner().petition.unwrap_or_default())
    }

    /// A bureau records the petitioner's satisfaction.
    pub async fn petition_satisfaction(&self, case_id: &str, satisfaction: u32) -> Result<(), Status> {
        let r = self.authed(RecordPetitionSatisfactionRequest { case_id: case_id.into(), satisfaction });
        self.client.clone().record_petition_satisfaction(r).await.map(|_| ())
    }

    /// A bureau's three rates.
    pub async fn petition_rates(
        &self,
        period: &str,
    ) -> Result<fengqiao_proto::fengqiao::petition::v1::PetitionRates, Status> {
        let r = self.authed(GetPetitionRatesRequest { period: period.into() });
        Ok(self.client.clone().get_petition_rates(r).await?.into_inner().rates.unwrap_or_default())
    }

    /// A bureau's backlog.
    pub async fn petition_backlog(&self) -> Result<Vec<fengqiao_proto::fengqiao::petition::v1::BacklogItem>, Status> {
        let r = self.authed(ListPetitionBacklogRequest {});
        Ok(self.client.clone().list_petition_backlog(r).await?.into_inner().items)
    }

    /// A court's judicial-confirmation applications.
    pub async fn confirmations(&self) -> Result<Vec<ConfirmationApplication>, Status> {
        let r = self.authed(ListConfirmationsRequest {});
        Ok(self.client.clone().list_confirmations(r).await?.into_inner().applications)
    }

    /// Every call about a case, as the gateway's audit log holds them (the centre's).
    pub async fn case_calls(&self, case_id: &str) -> Result<Vec<CaseCall>, Status> {
        let r = self.authed(ListCaseCallsRequest { case_id: case_id.into() });
        Ok(self.client.clone().list_case_calls(r).await?.into_inner().calls)
    }

    /// A court accepts a confirmation application.
    pub async fn accept_confirmation(&self, id: &str, court_case_no: &str) -> Result<ConfirmationApplication, Status> {
        let r =
            self.authed(AcceptConfirmationRequest { application_id: id.into(), court_case_no: court_case_no.into() });
        Ok(self.client.clone().accept_confirmation(r).await?.into_inner().application.unwrap_or_default())
    }

    /// A court extends its decision period.
    pub async fn extend_confirmation(&self, id: &str, approved_by: &str) -> Result<ConfirmationApplication, Status> {
        let r = self.authed(ExtendConfirmationDecisionRequest {
            application_id: id.into(),
            approved_by: approved_by.into(),
            reason: "案情复杂，需进一步审查".into(),
        });
        Ok(self.client.clone().extend_confirmation_decision(r).await?.into_inner().application.unwrap_or_default())
    }

    /// A court rules on a confirmation application.
    pub async fn decide_confirmation(
        &self,
        id: &str,
        valid: bool,
        reason: &str,
    ) -> Result<ConfirmationApplication, Status> {
        let r = self.authed(DecideConfirmationRequest { application_id: id.into(), valid, reason: reason.into() });
        Ok(self.client.clone().decide_confirmation(r).await?.into_inner().application.unwrap_or_default())
    }

    /// Revokes a case's hand-off.
    pub async fn revoke(&self, case_id: &str, reason: &str) -> Result<CaseStatus, Status> {
        let r =
            self.authed(RevokeReferralRequest { case_id: case_id.into(), reason: reason.into(), ..Default::default() });
        Ok(self.client.clone().revoke_referral(r).await?.into_inner().status.unwrap_or_default())
    }

    /// Waits (up to 30 s) until the case's status satisfies `done`.
    pub async fn wait_for(&self, case_id: &str, what: &str, done: impl Fn(&CaseStatus) -> bool) -> CaseStatus {
        let start = Instant::now();
        loop {
            if let Ok(s) = self.status(case_id).await {
                if done(&s) {
                    return s;
                }
                if start.elapsed() > Duration::from_secs(30) {
                    panic!("case {case_id} never became {what}; last status {s:?}");
                }
            } else if start.elapsed() > Duration::from_secs(30) {
                panic!("case {case_id} never became {what}; no status");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Status changes from `cursor` on, until `count` arrived or `within` passed.
    /// Reads a page of the agency's status changes.
    pub async fn list_status_changes(&self, r: ListStatusChangesRequest) -> Result<ListStatusChangesResponse, Status> {
        self.client.clone().list_status_changes(self.authed(r)).await.map(|r| r.into_inner())
    }

    pub async fn watch(&self, cursor: &str, count: usize, within: Duration) -> Vec<WatchStatusResponse> {
        let r = self.authed(WatchStatusRequest { cursor: cursor.into() });
        let mut stream = self.client.clone().watch_status(r).await.unwrap().into_inner();
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + within;
        while seen.len() < count {
            match tokio::time::timeout_at(deadline, stream.message()).await {
                Ok(Ok(Some(item))) => seen.push(item),
                _ => break,
            }
        }
        seen
    }
}

/// True when the case's current referral is in `state`.
pub fn in_state(state: ReferralState) -> impl Fn(&CaseStatus) -> bool {
    move |s| s.referral_state == state as i32
}

/// An organisation's staff at work.
pub struct Staff {
    client: MediationServiceClient<Channel>,
    org: String,
}

impl Staff {
    /// Connects as staff of `org`.
    pub async fn connect(system: &System, org: &str) -> Self {
        let channel = crate::channel(system.addr("mediation")).await.unwrap();
        Self { client: MediationServiceClient::new(channel), org: org.into() }
    }

    fn actor(&self) -> Option<Actor> {
        Some(Actor { org_id: self.org.clone(), person_id: "mediator-1".into() })
    }

    /// The referral of `case_id` in this organisation's inbox.
    pub async fn referral_of(&self, case_id: &str) -> InboxItem {
        let start = Instant::now();
        loop {
            let items = self
                .client
                .clone()
                .list_inbox(ListInboxRequest { org_id: self.org.clone(), page_size: 500, ..Default::default() })
                .await
                .map(|r| r.into_inner().items)
                .unwrap_or_default();
            if let Some(item) = items.into_iter().find(|i| i.case_id == case_id) {
                return item;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "case {case_id} never reached {}'s inbox", self.org);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Accepts.
    pub async fn accept(&self, referral_id: &str) -> Result<InboxItem, Status> {
        let r = AcceptReferralRequest { referral_id: referral_id.into(), actor: self.actor() };
        Ok(self.client.clone().accept_referral(r).await?.into_inner().item.unwrap_or_default())
    }

    /// Rejects with a reason.
    pub async fn reject(&self, referral_id: &str, reason: &str) -> Result<InboxItem, Status> {
        let r = RejectReferralRequest { referral_id: referral_id.into(), actor: self.actor(), reason: reason.into() };
        Ok(self.client.clone().reject_referral(r).await?.into_inner().item.unwrap_or_default())
    }

    /// Starts mediation.
    pub async fn start(&self, referral_id: &str) -> Result<InboxItem, Status> {
        let r = StartMediationRequest { referral_id: referral_id.into(), actor: self.actor() };
        Ok(self.client.clone().start_mediation(r).await?.into_inner().item.unwrap_or_default())
    }

    /// Concludes with `outcome` and the details it needs (see [`conclusion`]).
    pub async fn conclude(&self, referral_id: &str, outcome: MediationOutcome) -> Result<InboxItem, Status> {
        let r = ConcludeMediationRequest { actor: self.actor(), ..conclusion(referral_id, outcome) };
        Ok(self.client.clone().conclude_mediation(r).await?.into_inner().item.unwrap_or_default())
    }

    /// The mediation API as this organisation's staff.
    pub fn client(&self) -> MediationServiceClient<Channel> {
        self.client.clone()
    }

    /// This organisation's staff member, as an actor.
    pub fn me(&self) -> Option<Actor> {
        self.actor()
    }

    /// The parties' contacts in full.
    pub async fn contacts(&self, referral_id: &str) -> Result<Vec<Party>, Status> {
        let r = GetPartyContactsRequest { referral_id: referral_id.into(), actor: self.actor() };
        Ok(self.client.clone().get_party_contacts(r).await?.into_inner().parties)
    }

    /// Accepts, starts and concludes the referral of `case_id`.
    pub async fn mediate(&self, case_id: &str, outcome: MediationOutcome) -> InboxItem {
        let item = self.referral_of(case_id).await;
        self.accept(&item.referral_id).await.unwrap();
        self.start(&item.referral_id).await.unwrap();
        self.conclude(&item.referral_id, outcome).await.unwrap()
    }
}

/// A conclusion with `outcome` and valid details for a two-party case: a
/// written agreement signed by both, performed within 30 days; the routes
/// told; the respondent's refusal; why it was withdrawn or terminated.
pub fn conclusion(referral_id: &str, outcome: MediationOutcome) -> ConcludeMediationRequest {
    let deadline =
        time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+8)).date() + time::Duration::days(30);
    let mut r = ConcludeMediationRequest {
        referral_id: referral_id.into(),
        outcome: outcome as i32,
        summary: "双方达成一致".into(),
        ..Default::default()
    };
    match outcome {
        MediationOutcome::Agreement => {
            r.agreement = Some(AgreementTerms {
                form: AgreementForm::Written as i32,
                terms: vec!["李四承担修缮费用".into(), "双方互不追究".into()],
                amount_fen: 120_000,
                performance_deadline: deadline.to_string(),
                signatures: vec![
                    Signature { party_number: 1, signed_at: None },
                    Signature { party_number: 2, signed_at: None },
                ],
            })
        }
        MediationOutcome::NoAgreement => r.routes_told = vec![OtherRoute::Litigation as i32],
        MediationOutcome::PartyRefused => r.refusing_party_number = 2,
        _ => r.summary = "申请人撤回申请".into(),
    }
    r
}

/// The case's clock of `kind` (in `state`, if given), waiting up to 10 s for it.
pub async fn clock_of(
    system: &System,
    case_id: &str,
    kind: &str,
    state: Option<fengqiao_proto::fengqiao::routing::v1::ClockState>,
) -> fengqiao_proto::fengqiao::routing::v1::Clock {
    use fengqiao_proto::fengqiao::routing::v1::routing_service_client::RoutingServiceClient;
    use fengqiao_proto::fengqiao::routing::v1::ListCaseClocksRequest;
    let mut routing = RoutingServiceClient::new(crate::channel(system.addr("routing")).await.unwrap());
    for _ in 0..100 {
        let clocks = routing.list_case_clocks(ListCaseClocksRequest { case_id: case_id.into() }).await.unwrap();
        let found = clocks
            .into_inner()
            .clocks
            .into_iter()
            .find(|c| c.kind == kind && state.is_none_or(|s| c.state == s as i32));
        if let Some(c) = found {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no {kind} clock ({state:?}) for case {case_id}");
}

/// A police dispute `external_ref` submitted and brought to IN_PROGRESS at the
/// village committee: its status at submission, its referral, and the
/// committee's staff (through the mediation API).
pub async fn police_case_under_way(system: &System, external_ref: &str) -> (CaseStatus, InboxItem, Staff) {
    let police = AgencySession::connect(system, POLICE).await;
    let status = police.submit(dispute(Source::Police, external_ref)).await.unwrap().status.unwrap();
    let village = Staff::connect(system, VILLAGE_ORG).await;
    let item = village.referral_of(&status.case_id).await;
    village.accept(&item.referral_id).await.unwrap();
    village.start(&item.referral_id).await.unwrap();
    (status, item, village)
}

//! The path of every agency call, the same for gRPC and HTTP/JSON: a
//! request id, authentication and scope, the Idempotency-Key of a mutating
//! call, the call itself, and its audit entry (committed before the answer
//! leaves, in the same commit as the answer kept under the call's key).

use std::future::Future;
use std::time::{Duration, Instant};

use fengqiao_platform::db::now_micros;
use fengqiao_proto::fengqiao::gateway::v1::*;
use prost::Message;
use tonic::{Request, Response, Status};

use crate::agency::AgencyApi;
use crate::audit::{Entry, Kept};
use crate::idempotency::{self, Claim};
use crate::store::{Agency, Own};

/// The case a request or answer concerns, for the audit log.
pub trait Audited {
    /// The case id, or empty.
    fn case_id(&self) -> String {
        String::new()
    }
}

macro_rules! by_case_id {
    ($($t:ty),*) => { $(impl Audited for $t { fn case_id(&self) -> String { self.case_id.clone() } })* };
}
macro_rules! no_case {
    ($($t:ty),*) => { $(impl Audited for $t {})* };
}
by_case_id!(
    GetStatusRequest,
    ListCaseCallsRequest,
    RevokeReferralRequest,
    GetCourtResultRequest,
    GetPetitionResultRequest,
    RecordPetitionSatisfactionRequest
);
no_case!(
    SubmitDisputeRequest,
    ListStatusChangesRequest,
    SetCallbackRequest,
    GetCallbackRequest,
    DeleteCallbackRequest,
    ListCallbackDeadLettersRequest,
    LookupProgressRequest,
    LookupAccessRequest,
    WatchStatusRequest,
    ListConfirmationsRequest,
    AcceptConfirmationRequest,
    ExtendConfirmationDecisionRequest,
    DecideConfirmationRequest,
    GetPetitionRatesRequest,
    ListPetitionBacklogRequest
);
no_case!(
    ListStatusChangesResponse,
    SetCallbackResponse,
    GetCallbackResponse,
    DeleteCallbackResponse,
    ListCallbackDeadLettersResponse,
    LookupProgressResponse,
    LookupAccessResponse,
    ListCaseCallsResponse,
    GetStatusResponse,
    RevokeReferralResponse,
    GetCourtResultResponse,
    GetPetitionResultResponse,
    RecordPetitionSatisfactionResponse,
    ListConfirmationsResponse,
    AcceptConfirmationResponse,
    ExtendConfirmationDecisionResponse,
    DecideConfirmationResponse,
    GetPetitionRatesResponse,
    ListPetitionBacklogResponse
);
impl Audited for SubmitDisputeResponse {
    fn case_id(&self) -> String {
        self.status.as_ref().map(|s| s.case_id.clone()).unwrap_or_default()
    }
}

/// Whether a call changes something (and so takes an Idempotency-Key).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Reads only.
    Read,
    /// Changes state.
    Mutating,
}

/// The caller's `x-request-id`, or a new one.
pub fn request_id(metadata: &tonic::metadata::MetadataMap) -> String {
    metadata
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

impl AgencyApi {
    /// The request type of `method`.
    fn input_of(&self, method: &str) -> prost_reflect::MessageDescriptor {
        let service =
            self.pool.get_service_by_name(crate::http::rules::SERVICE).expect("the agency API is compiled in");
        let found = service.methods().find(|m| m.name() == method);
        found.expect("every served method is in the agency API").input()
    }

    /// Authenticates a streaming call and audits its opening.
    pub(crate) async fn open_stream<T>(&self, request: &Request<T>, method: &'static str) -> Result<Agency, Status> {
        let at = now_micros();
        let authorized = self.authorize(request, method).await;
        let entry = Entry {
            seq: 0,
            at,
            agency_id: authorized.as_ref().map(|a| a.agency_id.clone()).unwrap_or_default(),
            method: method.to_string(),
            case_id: String::new(),
            code: authorized.as_ref().err().map_or(0, |s| s.code() as i32),
            request_id: request_id(request.metadata()),
        };
        self.audit.record(entry, Kept::default()).await;
        authorized
    }

    /// Serves one unary call of `method` with `work` (see [`Self::serve_owning`]).
    pub(crate) async fn serve<Req: Message + Audited, Resp: Message + Default + Audited, Fut>(
        &self,
        request: Request<Req>,
        method: &'static str,
        kind: Kind,
        work: impl FnOnce(Agency, Req) -> Fut,
    ) -> Result<Response<Resp>, Status>
    where
        Fut: Future<Output = Result<Resp, Status>>,
    {
        let work = |agency, r| {
            let done = work(agency, r);
            async move { done.await.map(|answer| (answer, None)) }
        };
        self.serve_owning(request, method, kind, work).await
    }

    /// Serves one unary call of `method` with `work`, which may answer with
    /// the owner row of a case it registered: written in the call's audit
    /// commit, before the answer goes out.
    pub(crate) async fn serve_owning<Req, Resp, F, Fut>(
        &self,
        request: Request<Req>,
        method: &'static str,
        kind: Kind,
        work: F,
    ) -> Result<Response<Resp>, Status>
    where
        Req: Message + Audited,
        Resp: Message + Default + Audited,
        F: FnOnce(Agency, Req) -> Fut,
        Fut: Future<Output = Result<(Resp, Option<Own>), Status>>,
    {
        let at = now_micros();
        let request_id = request_id(request.metadata());
        let mut case_id = request.get_ref().case_id();
        let mut agency_id = String::new();
        // A new mutating call's answer, kept under its key, and the owner row of the case it
        // registered: both written in the audit entry's commit.
        let mut kept = Kept::default();
        let deadline = crate::limits::deadline(request.metadata(), Duration::from_secs(self.settings.deadline_secs));
        let deadline_at = tokio::time::Instant::now() + deadline;
        // The deadline counts from the call's arrival and bounds all of it — the
        // database and the audit log included — so a stalled link answers in time.
        let past = || {
            Status::deadline_exceeded(format!(
                "the call ran past its deadline of {} ms; its effect is unknown: check with a read, or retry \
                 (with the same Idempotency-Key for a change)",
                deadline.as_millis()
            ))
        };
        let stage = |name: &'static str, since: Instant| fengqiao_platform::metrics::gateway_stage(method, name, since);
        let result = async {
            let started = Instant::now();
            let agency = self.authorize(&request, method).await;
            stage("authorize", started);
            let agency = agency?;
            agency_id = agency.agency_id.clone();
            let _admitted = self.limits.admit(&agency.agency_id)?;
            let key = match kind {
                Kind::Mutating => idempotency::key_of(request.metadata())?,
                Kind::Read => None,
            };
            let r = request.into_inner();
            let encoded = r.encode_to_vec();
            crate::text::nul_free(&self.input_of(method), &encoded)?;
            // Work is not started once the deadline has passed.
            if tokio::time::Instant::now() >= deadline_at {
                return Err(past());
            }
            let bounded = |work: Fut| async move {
                let started = Instant::now();
                let done = tokio::time::timeout_at(deadline_at, work).await.unwrap_or_else(|_| Err(past()));
                stage("work", started);
                done
            };
            let Some(key) = key else {
                let (answer, owner) = bounded(work(agency, r)).await?;
                kept.owner = owner;
                return Ok(answer);
            };
            let hash = idempotency::fingerprint(method, &encoded);
            // Twice the longest a call may run: a claim older than that lost its call.
            let longest = i64::try_from(self.settings.deadline_secs).unwrap_or(i64::MAX).saturating_mul(2_000_000);
            let abandoned_before = at.saturating_sub(longest);
            let new = idempotency::NewKey {
                agency: agency.agency_id.clone(),
                key: key.clone(),
                method: method.to_string(),
                hash,
                at,
            };
            let started = Instant::now();
            let claimed = idempotency::claim(&self.claims, new, abandoned_before).await;
            stage("claim", started);
            match claimed? {
                Claim::Replay(bytes) => Resp::decode(bytes.as_slice())
                    .map_err(|e| fengqiao_platform::status::unexpected(&anyhow::anyhow!("stored answer: {e}"))),
                Claim::New => {
                    let id = agency.agency_id.clone();
                    match bounded(work(agency, r)).await {
                        Ok((answer, owner)) => {
                            let encoded = answer.encode_to_vec();
                            kept.answer = Some(idempotency::Completion { agency_id: id, key, answer: encoded });
                            kept.owner = owner;
                            Ok(answer)
                        }
                        Err(e) => {
                            // Freed when the database answers, not within the caller's time.
                            let db = self.db.clone();
                            tokio::spawn(async move { idempotency::release(&db, &id, &key).await });
                            Err(e)
                        }
                    }
                }
            }
        };
        let result = tokio::time::timeout_at(deadline_at, result).await.unwrap_or_else(|_| Err(past()));
        if case_id.is_empty() {
            case_id = result.as_ref().map(Audited::case_id).unwrap_or_default();
        }
        let code = result.as_ref().err().map_or(0, |s| s.code() as i32);
        let entry =
            Entry { seq: 0, at, agency_id, method: method.to_string(), case_id, code, request_id: request_id.clone() };
        // An answer goes out only with its audit entry committed; an entry the
        // database cannot take by the deadline is still written when it can,
        // but the caller hears that the outcome is unknown.
        let audited = self.audit.record(entry, kept);
        let audited = tokio::time::timeout_at(deadline_at.max(tokio::time::Instant::now()), audited);
        let started = Instant::now();
        let audited = audited.await;
        stage("audit", started);
        let result = match audited {
            Ok(()) => result,
            Err(_) => Err(past()),
        };
        // The request id goes back with every answer, error or not, so a caller can quote it.
        let id: Option<tonic::metadata::MetadataValue<_>> = request_id.parse().ok();
        match result {
            Ok(answer) => {
                let mut response = Response::new(answer);
                if let Some(id) = id {
                    response.metadata_mut().insert("x-request-id", id);
                }
                Ok(response)
            }
            Err(mut status) => {
                if let Some(id) = id {
                    status.metadata_mut().insert("x-request-id", id);
                }
                Err(status)
            }
        }
    }
}

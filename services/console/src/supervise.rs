//! Acting on an alarm: a case's supervision page (its owner and notices) for
//! supervisors, leaders and administrators, with the steps each may take
//! through routing's supervision API — a supervisor makes a leader the case's
//! owner (领导包案), issues a supervision notice (督办) to an organisation, or
//! re-drives a stuck referral, or summons departments (吹哨报到, see
//! [`crate::summons`]); the owner acknowledges. A supervisor with a
//! jurisdiction acts only on cases whose dispute took place in it (others are
//! NOT_FOUND). An organisation's head answers its notices on the referral page.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use fengqiao_proto::fengqiao::intake::v1::GetCaseRequest;
use fengqiao_proto::fengqiao::routing::v1::ListCaseReferralsRequest;
use fengqiao_proto::fengqiao::supervision::v1::{
    AcknowledgeCaseOwnershipRequest, AssignCaseOwnerRequest, GetCaseSupervisionRequest, GetCaseSupervisionResponse,
    IssueSupervisionNoticeRequest, RedriveCaseRequest, RespondToSupervisionNoticeRequest,
};
use http::{HeaderMap, StatusCode};
use minijinja::context;
use serde::Serialize;

use crate::accounts::Role;
use crate::admin::{fields, frame_of};
use crate::app::App;
use crate::i18n::{words, Lang};
use crate::items::local;
use crate::pages::{actor, lang_of, page, refusal, session_of, to_login, Common};
use crate::sessions::Session;
use crate::views::render;

/// A notice as the pages list it.
#[derive(Debug, Serialize)]
pub struct NoticeView {
    /// Its id (the response form's hidden field).
    pub notice_id: String,
    /// The organisation that must respond.
    pub org_id: String,
    /// What is demanded.
    pub demand: String,
    /// Who issued it, when.
    pub issued: String,
    /// When the response is due.
    pub due: String,
    /// The response, once given, with who and when.
    pub response: String,
}

/// The notices of a case's supervision.
pub fn notices(found: &GetCaseSupervisionResponse) -> Vec<NoticeView> {
    found
        .notices
        .iter()
        .map(|n| {
            let by = n.issued_by.as_ref().map(|a| a.person_id.as_str()).unwrap_or_default();
            let response = if n.response.is_empty() {
                String::new()
            } else {
                let who = n.responded_by.as_ref().map(|a| a.person_id.as_str()).unwrap_or_default();
                format!("{} — {who}, {}", n.response, local(n.responded_at.as_ref()))
            };
            NoticeView {
                notice_id: n.notice_id.clone(),
                org_id: n.org_id.clone(),
                demand: n.demand.clone(),
                issued: format!("{by}, {}", local(n.issued_at.as_ref())),
                due: local(n.due_at.as_ref()),
                response,
            }
        })
        .collect()
}

/// The organisations the case has been referred to, newest last; NOT_FOUND
/// when it has none, or when the place of the dispute lies outside a
/// supervisor's jurisdiction (the same test the alarms board filters by).
async fn case_orgs(app: &App, session: &Session, case_id: &str) -> Result<Vec<String>, tonic::Status> {
    let request = ListCaseReferralsRequest { case_id: case_id.to_string() };
    let referrals = app.routing.clone().list_case_referrals(request).await?.into_inner().referrals;
    let orgs: Vec<String> = referrals.iter().map(|r| r.org_id.clone()).collect();
    if orgs.is_empty() {
        return Err(tonic::Status::not_found("case"));
    }
    let jurisdiction = &session.staff.jurisdiction;
    if session.staff.role == Role::Administrator || jurisdiction.is_empty() {
        return Ok(orgs);
    }
    let case = app.intake.clone().get_case(GetCaseRequest { case_id: case_id.to_string() }).await?.into_inner().case;
    let place = case.and_then(|c| c.dispute).and_then(|d| d.location).map(|l| l.division_code).unwrap_or_default();
    if place.starts_with(jurisdiction.as_str()) {
        Ok(orgs)
    } else {
        Err(tonic::Status::not_found("case"))
    }
}

fn oversees(session: &Session) -> bool {
    matches!(session.staff.role, Role::Supervisor | Role::Leader | Role::Administrator)
}

async fn show(app: &App, lang: Lang, session: &Session, case_id: &str, notice: Option<String>) -> Response {
    let q = Common::default();
    let orgs = match case_orgs(app, session, case_id).await {
        Ok(orgs) => orgs,
        Err(status) => return refusal(app, lang, session, &status, &q),
    };
    let found =
        match app.supervision.clone().get_case_supervision(GetCaseSupervisionRequest { case_id: case_id.into() }).await
        {
            Ok(r) => r.into_inner(),
            Err(status) => return refusal(app, lang, session, &status, &q),
        };
    let owner = found.owner.as_ref().map(|o| {
        context! {
            leader => o.leader_id,
            assigned => format!("{}, {}", o.assigned_by.as_ref().map(|a| a.person_id.as_str()).unwrap_or_default(), local(o.assigned_at.as_ref())),
            acknowledged => local(o.acknowledged_at.as_ref()),
            mine => o.leader_id == session.staff.username,
        }
    });
    let directs = matches!(session.staff.role, Role::Supervisor | Role::Administrator);
    let mut frame = frame_of(session);
    frame.notice = notice;
    let html = render(
        &app.templates,
        "supervision.html",
        lang,
        &frame,
        context! { case_id => case_id, owner => owner, notices => notices(&found), directs => directs,
        current_org => orgs.last().cloned().unwrap_or_default(),
        summons => crate::summons::of_case(app, case_id).await },
    );
    page(StatusCode::OK, html, &q)
}

/// GET /cases/{case_id}/supervision.
pub async fn page_of(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(case_id): Path<String>,
    Query(q): Query<Common>,
) -> Response {
    let Some(session) = session_of(&app, &headers).await else { return to_login() };
    let lang = lang_of(&headers, &q);
    if !oversees(&session) {
        return refusal(&app, lang, &session, &tonic::Status::permission_denied("role"), &q);
    }
    show(&app, lang, &session, &case_id, None).await
}

/// POST /cases/{case_id}/supervision/{step}: owner, acknowledge, notice, redrive, summon, summons_answer.
pub async fn act(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path((case_id, step)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let q = Common::default();
    let Some(session) = session_of(&app, &headers).await else { return to_login() };
    let lang = lang_of(&headers, &q);
    let form = fields(&body);
    if form.get("csrf") != Some(&session.csrf) {
        return crate::pages::csrf_refused(&app, lang, &session, &format!("supervision_{step}"), &case_id).await;
    }
    let directs = matches!(session.staff.role, Role::Supervisor | Role::Administrator);
    let done = match case_orgs(&app, &session, &case_id).await {
        Err(status) => Err(status),
        Ok(_) if !oversees(&session) => Err(tonic::Status::permission_denied("role")),
        Ok(_) => step_of(&app, &session, &case_id, &step, &form, directs).await,
    };
    app.audit_done(&session.staff.username, &format!("supervision_{step}"), &case_id, &done).await;
    match done {
        Ok(()) => show(&app, lang, &session, &case_id, Some(words(lang)["done"].to_string())).await,
        Err(status) => refusal(&app, lang, &session, &status, &q),
    }
}

async fn step_of(
    app: &App,
    session: &Session,
    case_id: &str,
    step: &str,
    form: &HashMap<String, String>,
    directs: bool,
) -> Result<(), tonic::Status> {
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let mut api = app.supervision.clone();
    let case_id = case_id.to_string();
    match step {
        "owner" if directs => {
            let request = AssignCaseOwnerRequest { case_id, leader_id: get("leader_id"), actor: actor(session) };
            api.assign_case_owner(request).await.map(|_| ())
        }
        "notice" if directs => {
            let request = IssueSupervisionNoticeRequest {
                case_id,
                org_id: get("org_id"),
                demand: get("demand"),
                response_period: get("response_period"),
                actor: actor(session),
            };
            api.issue_supervision_notice(request).await.map(|_| ())
        }
        "redrive" if directs => {
            api.redrive_case(RedriveCaseRequest { case_id, actor: actor(session) }).await.map(|_| ())
        }
        "summon" if directs => crate::summons::summon(app, session, &case_id, form).await,
        "summons_answer" if directs => crate::summons::record_answer(app, form).await,
        "acknowledge" => {
            let request = AcknowledgeCaseOwnershipRequest { case_id, leader_id: session.staff.username.clone() };
            api.acknowledge_case_ownership(request).await.map(|_| ())
        }
        "owner" | "notice" | "redrive" | "summon" | "summons_answer" => {
            Err(tonic::Status::permission_denied("supervisors direct"))
        }
        _ => Err(tonic::Status::not_found("no such step")),
    }
}

/// An organisation's response to a notice (from its referral page).
pub async fn respond(app: &App, session: &Session, form: &HashMap<String, String>) -> Result<(), tonic::Status> {
    let request = RespondToSupervisionNoticeRequest {
        notice_id: form.get("notice_id").map(|v| v.trim().to_string()).unwrap_or_default(),
        response: form.get("response").map(|v| v.trim().to_string()).unwrap_or_default(),
        actor: actor(session),
    };
    app.supervision.clone().respond_to_supervision_notice(request).await.map(|_| ())
}

/// The notices of `case_id` addressed to `org_id`, for its referral page (empty when supervision cannot be read).
pub async fn notices_to(app: &App, case_id: &str, org_id: &str) -> Vec<NoticeView> {
    match app.supervision.clone().get_case_supervision(GetCaseSupervisionRequest { case_id: case_id.into() }).await {
        Ok(r) => notices(&r.into_inner()).into_iter().filter(|n| n.org_id == org_id).collect(),
        Err(e) => {
            tracing::warn!(code = ?e.code(), "cannot read a case's supervision notices for its referral page");
            Vec::new()
        }
    }
}

//! The console's pages and forms: sign-in, the organisation's inbox, a
//! referral with the steps its role may take. Every step goes through the
//! mediation API as the signed-in member of staff (the API decides; another
//! organisation's referral is NOT_FOUND there and here), and is recorded in the
//! console's audit log with the username.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use fengqiao_proto::fengqiao::common::v1::{Actor, MediationOutcome, ReferralState};
use fengqiao_proto::fengqiao::mediation::v1::{
    AcceptReferralRequest, AgreementForm, AgreementTerms, CaseWork, ConcludeMediationRequest, GetCaseWorkRequest,
    JointState, ListInboxRequest, RecordSessionRequest, RejectReferralRequest, ScheduleSessionRequest, Signature,
    StartMediationRequest,
};
use http::{HeaderMap, StatusCode};
use minijinja::context;
use serde::Deserialize;

use crate::accounts::Staff;
use crate::app::App;
use crate::i18n::{state_name, Lang};
use crate::items::{self, ItemView};
use crate::sessions::{self, Session};
use crate::views::{render, Frame, Problem, CSS, POSITION_JS};

/// The console's routes.
pub fn router(app: Arc<App>) -> axum::Router {
    axum::Router::new()
        .route("/", get(|| async { Redirect::to("/inbox") }))
        .route("/static/console.css", get(|| async { ([(http::header::CONTENT_TYPE, "text/css")], CSS) }))
        .route(
            "/static/position.js",
            get(|| async { ([(http::header::CONTENT_TYPE, "text/javascript")], POSITION_JS) }),
        )
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/login/oidc", get(crate::sso::begin))
        .route("/login/oidc/callback", get(crate::sso::callback))
        .route("/inbox", get(inbox))
        .route("/referrals/{id}", get(referral))
        .route("/referrals/{id}/{step}", post(step))
        .route(
            "/referrals/{id}/documents",
            post(crate::casefile::add).layer(axum::extract::DefaultBodyLimit::max(crate::upload::MAX_FORM_BYTES)),
        )
        .route(
            "/register",
            get(crate::counter::register_page)
                .post(crate::counter::register)
                .layer(axum::extract::DefaultBodyLimit::max(crate::upload::MAX_FORM_BYTES)),
        )
        .route("/progress", get(crate::counter::progress_form).post(crate::counter::progress))
        .route("/alarms", get(crate::oversight::alarms))
        .route("/dashboard", get(crate::oversight::dashboard))
        .route("/accounts", get(crate::admin::list).post(crate::admin::add))
        .route("/accounts/{username}/disable", post(crate::admin::disable))
        .route("/subsidy", get(crate::admin::subsidy))
        .route("/directory", get(crate::directory::show))
        .route("/cases/{case_id}/supervision", get(crate::supervise::page_of))
        .route("/cases/{case_id}/supervision/{step}", post(crate::supervise::act))
        .route("/directory/mediators", post(crate::directory::save_mediator))
        .route("/directory/organisations", post(crate::directory::save_organisation))
        .layer(axum::middleware::map_response(guard_headers))
        .with_state(app)
}

/// Headers on every answer: no framing by other sites (clickjacking), only
/// our own style sheet and forms, no sniffing, no caching of pages that show
/// cases, no referrer leaving the console.
async fn guard_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = [
        (
            "content-security-policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ];
    for (name, value) in set {
        headers.insert(name, http::HeaderValue::from_static(value));
    }
    response
}

#[derive(Deserialize, Default)]
pub(crate) struct Common {
    pub(crate) lang: Option<String>,
    pub(crate) state: Option<String>,
    pub(crate) expired: Option<String>,
    /// The dashboard's period (`2026-12`, `2026-Q4`).
    pub(crate) period: Option<String>,
    /// The dashboard's grouping (`township`, `organisation`).
    pub(crate) by: Option<String>,
}

pub(crate) fn lang_of(headers: &HeaderMap, query: &Common) -> Lang {
    Lang::pick(query.lang.as_deref(), sessions::cookie_value(headers, "lang"))
}

/// A page, remembering an explicit language choice in a cookie.
pub(crate) fn page(status: StatusCode, html: String, query: &Common) -> Response {
    let mut response = (status, Html(html)).into_response();
    if let Some(lang) = query.lang.as_deref().filter(|l| matches!(*l, "en" | "zh")) {
        let cookie = format!("lang={lang}; Path=/; SameSite=Lax; Max-Age=31536000");
        response.headers_mut().append(http::header::SET_COOKIE, cookie.parse().expect("a cookie"));
    }
    response
}

fn form(body: &Bytes) -> std::collections::HashMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

pub(crate) async fn session_of(app: &App, headers: &HeaderMap) -> Option<Session> {
    let token = sessions::cookie_value(headers, sessions::COOKIE)?;
    match sessions::find(&app.db, token, app.life).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read a console session");
            None
        }
    }
}

pub(crate) fn to_login() -> Response {
    Redirect::to("/login?expired=1").into_response()
}

async fn login_page(State(app): State<Arc<App>>, headers: HeaderMap, Query(q): Query<Common>) -> Response {
    let lang = lang_of(&headers, &q);
    let mut frame = Frame::default();
    if q.expired.is_some() {
        frame.notice = Some(crate::i18n::words(lang)["session_over"].to_string());
    }
    let html = login_html(&app, lang, &frame, "");
    page(StatusCode::OK, html, &q)
}

/// The sign-in page, with the identity platform's button when it is configured.
pub(crate) fn login_html(app: &App, lang: Lang, frame: &Frame, username: &str) -> String {
    let provider = app.oidc.as_ref().map(|o| o.provider_name());
    render(&app.templates, "login.html", lang, frame, context! { username => username, provider => provider })
}

/// Starts a session for `staff` and answers with `response` carrying its cookie;
/// `None` when the session cannot be stored.
pub(crate) async fn with_new_session(app: &App, staff: &Staff, mut response: Response) -> Option<Response> {
    let token = match sessions::start(&app.db, &staff.username, app.life).await {
        Ok(token) => token,
        Err(e) => {
            tracing::warn!(error = %e, "cannot start a console session");
            return None;
        }
    };
    let cookie = sessions::cookie(&token, app.life, app.secure_cookies);
    response.headers_mut().append(http::header::SET_COOKIE, cookie.parse().expect("a cookie"));
    Some(response)
}

async fn login(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let lang = lang_of(&headers, &Common::default());
    let fields = form(&body);
    let username = fields.get("username").map(|s| s.trim().to_string()).unwrap_or_default();
    let password = fields.get("password").cloned().unwrap_or_default();
    let refuse = |status: StatusCode, key: &str| {
        let frame = Frame { error: Some(crate::i18n::words(lang)[key].to_string()), ..Default::default() };
        let html = login_html(&app, lang, &frame, &username);
        (status, Html(html)).into_response()
    };
    if app.sign_ins.is_throttled(&username) {
        app.audit(&username, "sign_in", "", "throttled").await;
        return refuse(StatusCode::TOO_MANY_REQUESTS, "too_many_tries");
    }
    let account = match crate::accounts::find(&app.db, &username).await {
        Ok(account) => account,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read console accounts");
            return refuse(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
        }
    };
    // The hash is checked even for an unknown name, so timing tells nothing.
    let stored = account.as_ref().map(|(_, h)| h.as_str()).unwrap_or(crate::app::DUMMY_HASH.as_str());
    let verified = crate::accounts::verify(&password, stored);
    let Some((staff, _)) = account.filter(|_| verified) else {
        app.sign_ins.failed(&username);
        app.audit(&username, "sign_in", "", "refused").await;
        return refuse(StatusCode::UNAUTHORIZED, "bad_credentials");
    };
    let Some(response) = with_new_session(&app, &staff, Redirect::to("/inbox").into_response()).await else {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    };
    app.sign_ins.succeeded(&username);
    app.audit(&staff.username, "sign_in", "", "ok").await;
    response
}

async fn logout(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    if let (Some(token), Some(session)) =
        (sessions::cookie_value(&headers, sessions::COOKIE), session_of(&app, &headers).await)
    {
        if form(&body).get("csrf") == Some(&session.csrf) {
            let _ = sessions::end(&app.db, token).await;
            app.audit(&session.staff.username, "sign_out", "", "ok").await;
        }
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(http::header::SET_COOKIE, sessions::cleared_cookie().parse().expect("a cookie"));
    response
}

/// A form without the session's token changes nothing: audited, and the page says to reload (403).
pub(crate) async fn csrf_refused(app: &App, lang: Lang, session: &Session, action: &str, target: &str) -> Response {
    app.audit(&session.staff.username, action, target, "csrf refused").await;
    let frame = Frame {
        staff: Some(session.staff.clone()),
        error: Some(crate::i18n::words(lang)["csrf"].into()),
        ..Default::default()
    };
    page(StatusCode::FORBIDDEN, render(&app.templates, "message.html", lang, &frame, context! {}), &Common::default())
}

pub(crate) fn actor(session: &Session) -> Option<Actor> {
    Some(Actor { org_id: session.staff.org_id.clone(), person_id: session.staff.username.clone() })
}

/// The page for an API refusal: what went wrong and what to do, in the page's language.
pub(crate) fn refusal(app: &App, lang: Lang, session: &Session, status: &tonic::Status, q: &Common) -> Response {
    let words = crate::i18n::words(lang);
    let (code, message, violations) = match status.code() {
        tonic::Code::NotFound => (StatusCode::NOT_FOUND, words["not_found"].to_string(), Vec::new()),
        tonic::Code::PermissionDenied => (StatusCode::FORBIDDEN, words["forbidden"].to_string(), Vec::new()),
        tonic::Code::InvalidArgument => {
            let v = fengqiao_platform::status::violations(status)
                .into_iter()
                .map(|v| Problem { field: v.field, description: v.description })
                .collect();
            (StatusCode::BAD_REQUEST, words["fix_fields"].to_string(), v)
        }
        // Said in the page's language; the API's own words (English, nothing personal) follow as the detail.
        tonic::Code::FailedPrecondition | tonic::Code::Aborted | tonic::Code::AlreadyExists => {
            let message = format!("{} ({}: {})", words["conflict"], words["detail"], status.message());
            (StatusCode::CONFLICT, message, Vec::new())
        }
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::ResourceExhausted => {
            (StatusCode::SERVICE_UNAVAILABLE, words["unavailable"].to_string(), Vec::new())
        }
        _ => (StatusCode::INTERNAL_SERVER_ERROR, words["failed"].to_string(), Vec::new()),
    };
    let frame = Frame {
        staff: Some(session.staff.clone()),
        csrf: session.csrf.clone(),
        error: Some(message),
        violations,
        ..Default::default()
    };
    page(code, render(&app.templates, "message.html", lang, &frame, context! {}), q)
}

async fn inbox(State(app): State<Arc<App>>, headers: HeaderMap, Query(q): Query<Common>) -> Response {
    let Some(session) = session_of(&app, &headers).await else { return to_login() };
    let lang = lang_of(&headers, &q);
    let state: Option<i32> = q.state.as_deref().and_then(|s| s.parse().ok());
    let request = ListInboxRequest {
        org_id: session.staff.org_id.clone(),
        states: state.into_iter().collect(),
        page_size: 200,
        ..Default::default()
    };
    let items = match app.mediation.clone().list_inbox(request).await {
        Ok(r) => r.into_inner().items,
        Err(status) => return refusal(&app, lang, &session, &status, &q),
    };
    let now = fengqiao_platform::db::now_micros();
    let awaiting = crate::joint::awaiting_answer(&app, &session, &items).await;
    let (invitations, views): (Vec<ItemView>, Vec<ItemView>) =
        items.iter().map(|i| items::view(i, lang, now)).partition(|v| awaiting.contains(&v.referral_id));
    let states: Vec<_> =
        [2, 3, 5, 6, 7, 4, 8, 9].iter().map(|s| context! { value => s, name => state_name(*s, lang) }).collect();
    let frame = Frame { staff: Some(session.staff.clone()), csrf: session.csrf.clone(), ..Default::default() };
    let html = render(
        &app.templates,
        "inbox.html",
        lang,
        &frame,
        context! { items => views, invitations => invitations, states => states, state => state,
        org_id => session.staff.org_id },
    );
    page(StatusCode::OK, html, &q)
}

async fn referral(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<Common>,
) -> Response {
    let Some(session) = session_of(&app, &headers).await else { return to_login() };
    let lang = lang_of(&headers, &q);
    show_referral(&app, lang, session, &id, None, &q).await
}

async fn show_referral(
    app: &App,
    lang: Lang,
    session: Session,
    id: &str,
    notice: Option<String>,
    q: &Common,
) -> Response {
    let work = match case_work(app, &session, id).await {
        Ok(work) => work,
        Err(status) => return refusal(app, lang, &session, &status, q),
    };
    let item = work.item.clone().unwrap_or_default();
    let mut view = items::view(&item, lang, fengqiao_platform::db::now_micros());
    view.mediators = work.mediators.iter().map(|m| m.mediator_id.as_str()).collect::<Vec<_>>().join(", ");
    view.sessions = work
        .sessions
        .iter()
        .filter(|s| !s.record.is_empty())
        .map(|s| {
            let at = s.held_at.as_ref().map(|t| crate::items::local_time(t.seconds)).unwrap_or_default();
            format!("{at} {} — {}", s.place, s.record)
        })
        .collect();
    let can_act = session.staff.role.mediates() && session.staff.org_id == item.org_id;
    // Staff of an organisation that joined the mediation hold sessions and file documents; the lead does the rest.
    let joined = session.staff.role.mediates()
        && work
            .joint_organisations
            .iter()
            .any(|j| j.org_id == session.staff.org_id && j.state == JointState::Joined as i32);
    let can_assign = can_act && session.staff.role == crate::accounts::Role::OrgHead;
    let working = [ReferralState::Accepted, ReferralState::InProgress, ReferralState::OnHold]
        .iter()
        .any(|s| *s as i32 == item.state);
    let later = crate::casework::later(app, &work, lang, can_assign && working).await;
    let joint = crate::joint::view(app, &work, lang, can_act && working).await;
    let file = crate::casefile::view(&work, lang);
    let notices =
        if can_act { crate::supervise::notices_to(app, &item.case_id, &item.org_id).await } else { Vec::new() };
    let story = crate::story::of(app, &item.case_id, id, lang).await;
    let agreement_sha256 = work.agreement_sha256.clone();
    let frame = Frame { staff: Some(session.staff.clone()), csrf: session.csrf.clone(), notice, ..Default::default() };
    let html = render(
        &app.templates,
        "referral.html",
        lang,
        &frame,
        context! { item => view, can_act => can_act, joined => joined, can_assign => can_assign, later => later, story => story,
        agreement_sha256 => agreement_sha256, notices => notices, joint => joint, file => file,
        addable => crate::casefile::addable(lang) },
    );
    page(StatusCode::OK, html, q)
}

async fn step(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path((id, step)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let q = Common::default();
    let Some(session) = session_of(&app, &headers).await else { return to_login() };
    let lang = lang_of(&headers, &q);
    let fields = form(&body);
    if fields.get("csrf") != Some(&session.csrf) {
        return csrf_refused(&app, lang, &session, &step, &id).await;
    }
    if !session.staff.role.mediates() {
        app.audit(&session.staff.username, &step, &id, "forbidden").await;
        return refusal(&app, lang, &session, &tonic::Status::permission_denied("role"), &q);
    }
    let mut client = app.mediation.clone();
    let who = actor(&session);
    let done = match step.as_str() {
        "accept" => {
            client.accept_referral(AcceptReferralRequest { referral_id: id.clone(), actor: who }).await.map(|_| ())
        }
        "start" => {
            client.start_mediation(StartMediationRequest { referral_id: id.clone(), actor: who }).await.map(|_| ())
        }
        "reject" => {
            let reason = fields.get("reason").cloned().unwrap_or_default();
            client
                .reject_referral(RejectReferralRequest { referral_id: id.clone(), actor: who, reason })
                .await
                .map(|_| ())
        }
        "session" => record_session(&app, &session, &id, &fields).await,
        "assign" if session.staff.role == crate::accounts::Role::OrgHead => {
            crate::casework::assign(&app, &session, &id, &fields).await
        }
        "assign" => Err(tonic::Status::permission_denied("only the organisation's head assigns mediators")),
        "schedule" => match case_work(&app, &session, &id).await {
            Ok(work) => crate::casework::schedule(&app, &session, &work, &id, &fields).await,
            Err(status) => Err(status),
        },
        "record" => crate::casework::record(&app, &session, &fields).await,
        "reschedule" => crate::casework::reschedule(&app, &session, &fields).await,
        "performance" => crate::casework::performance(&app, &session, &id, &fields).await,
        "visit" => crate::casework::visit(&app, &session, &id, &fields).await,
        "respond" => crate::supervise::respond(&app, &session, &fields).await,
        "invite" => crate::joint::invite(&app, &session, &id, &fields).await,
        "join" => crate::joint::answer(&app, &session, &id, true, &fields).await,
        "decline" => crate::joint::answer(&app, &session, &id, false, &fields).await,
        "confirm" => crate::joint::apply(&app, &session, &id, &fields).await,
        "conclude" => match conclusion(&app, &session, &id, &fields).await {
            Ok(request) => client.conclude_mediation(request).await.map(|_| ()),
            Err(status) => Err(status),
        },
        _ => Err(tonic::Status::not_found("no such step")),
    };
    app.audit_done(&session.staff.username, &step, &id, &done).await;
    match done {
        // A declined invitation leaves the inbox, and the case is not the organisation's to see.
        Ok(()) if step == "decline" => Redirect::to("/inbox").into_response(),
        Ok(()) => referral_done(&app, lang, session, &id).await,
        Err(status) => refusal(&app, lang, &session, &status, &q),
    }
}

/// The referral page after a step was taken, saying it was done.
pub(crate) async fn referral_done(app: &App, lang: Lang, session: Session, id: &str) -> Response {
    let notice = Some(crate::i18n::words(lang)["done"].to_string());
    show_referral(app, lang, session, id, notice, &Common::default()).await
}

/// The referral's case work as the API shows it to this member of staff.
async fn case_work(app: &App, session: &Session, id: &str) -> Result<CaseWork, tonic::Status> {
    let request = GetCaseWorkRequest { referral_id: id.to_string(), actor: actor(session) };
    Ok(app.mediation.clone().get_case_work(request).await?.into_inner().work.unwrap_or_default())
}

/// The parties of the referral's case, numbered from 1, as the API shows them to this member of staff.
pub(crate) async fn party_numbers(app: &App, session: &Session, id: &str) -> Result<Vec<u32>, tonic::Status> {
    Ok(crate::casework::party_numbers(&case_work(app, session, id).await?))
}

/// A session held now: scheduled at this moment for every party of the case,
/// at the place given, and recorded with what was said and done (调解笔录).
async fn record_session(
    app: &App,
    session: &Session,
    id: &str,
    fields: &std::collections::HashMap<String, String>,
) -> Result<(), tonic::Status> {
    let parties = party_numbers(app, session, id).await?;
    let mut client = app.mediation.clone();
    let now = fengqiao_platform::db::now_micros();
    let scheduled = client
        .schedule_session(ScheduleSessionRequest {
            referral_id: id.to_string(),
            actor: actor(session),
            scheduled_at: Some(prost_types::Timestamp { seconds: now / 1_000_000, nanos: 0 }),
            place: fields.get("place").map(|p| p.trim().to_string()).unwrap_or_default(),
            party_numbers: parties,
            ..Default::default()
        })
        .await?
        .into_inner()
        .session
        .unwrap_or_default();
    client
        .record_session(RecordSessionRequest {
            session_id: scheduled.session_id,
            actor: actor(session),
            record: fields.get("record").map(|r| r.trim().to_string()).unwrap_or_default(),
            absent_party_numbers: Vec::new(),
        })
        .await?;
    Ok(())
}

/// A conclusion with an agreement from the form: its terms, amount and
/// deadline, signed by every party of the case (as recorded at signing).
async fn conclusion(
    app: &App,
    session: &Session,
    id: &str,
    fields: &std::collections::HashMap<String, String>,
) -> Result<ConcludeMediationRequest, tonic::Status> {
    let parties = party_numbers(app, session, id).await?;
    let amount = fields.get("amount").map(|a| a.trim()).filter(|a| !a.is_empty()).unwrap_or("0");
    let Some(amount_fen) = items::yuan_to_fen(amount) else {
        return Err(fengqiao_platform::status::invalid_argument(&[fengqiao_platform::status::Violation::new(
            "amount",
            "must be an amount in yuan such as 1200 or 1200.50",
        )]));
    };
    let terms: Vec<String> = fields
        .get("terms")
        .map(|t| t.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect())
        .unwrap_or_default();
    Ok(ConcludeMediationRequest {
        referral_id: id.to_string(),
        actor: actor(session),
        outcome: MediationOutcome::Agreement as i32,
        summary: fields.get("summary").cloned().unwrap_or_default(),
        agreement: Some(AgreementTerms {
            form: AgreementForm::Written as i32,
            terms,
            amount_fen,
            performance_deadline: fields.get("deadline").cloned().unwrap_or_default(),
            signatures: parties.into_iter().map(|n| Signature { party_number: n, signed_at: None }).collect(),
        }),
        ..Default::default()
    })
}

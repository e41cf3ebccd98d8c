//! The administrator's account page and the organisation head's subsidy
//! statement: accounts listed, added (a generated password shown once) and
//! disabled (their sessions end at once); a month's per-case subsidy
//! statement (以案定补) of the head's own organisation, through mediation's API.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use fengqiao_proto::fengqiao::mediation::v1::GetSubsidyStatementRequest;
use http::{HeaderMap, StatusCode};
use minijinja::context;
use sqlx::Row;

use crate::accounts::{self, Role, Staff};
use crate::app::App;
use crate::i18n::{words, Lang};
use crate::pages::{lang_of, page, refusal, session_of, to_login, Common};
use crate::sessions::Session;
use crate::views::{render, Frame};

pub(crate) fn frame_of(session: &Session) -> Frame {
    Frame { staff: Some(session.staff.clone()), csrf: session.csrf.clone(), ..Default::default() }
}

async fn accounts_page(
    app: &App,
    lang: Lang,
    mut frame: Frame,
    created: Option<(String, String)>,
    status: StatusCode,
) -> Response {
    let rows = sqlx::query(
        "SELECT username, display_name, role, org_id, jurisdiction, active FROM accounts ORDER BY username",
    )
    .fetch_all(&app.db)
    .await
    .unwrap_or_else(|e| {
        frame.error = Some(words(lang)["unavailable"].into());
        tracing::warn!(error = %e, "cannot list console accounts");
        Vec::new()
    });
    let list: Vec<_> = rows
        .iter()
        .map(|r| {
            context! {
                username => r.try_get::<String, _>("username").unwrap_or_default(),
                name => r.try_get::<String, _>("display_name").unwrap_or_default(),
                role => r.try_get::<String, _>("role").unwrap_or_default(),
                org_id => r.try_get::<String, _>("org_id").unwrap_or_default(),
                jurisdiction => r.try_get::<String, _>("jurisdiction").unwrap_or_default(),
                active => r.try_get::<i32, _>("active").unwrap_or_default() == 1,
            }
        })
        .collect();
    let roles: Vec<&str> = Role::ALL.iter().map(|(_, n)| *n).collect();
    let created = created.map(|(u, p)| context! { username => u, password => p });
    let html = render(
        &app.templates,
        "accounts.html",
        lang,
        &frame,
        context! { accounts => list, roles => roles, created => created },
    );
    page(status, html, &Common::default())
}

/// GET /accounts (administrators).
pub async fn list(State(app): State<Arc<App>>, headers: HeaderMap, Query(q): Query<Common>) -> Response {
    let Some(session) = session_of(&app, &headers).await else { return to_login() };
    let lang = lang_of(&headers, &q);
    if session.staff.role != Role::Administrator {
        return refusal(&app, lang, &session, &tonic::Status::permission_denied("role"), &q);
    }
    accounts_page(&app, lang, frame_of(&session), None, StatusCode::OK).await
}

pub(crate) fn fields(body: &Bytes) -> HashMap<String, String> {
    form_urlencoded::parse(body).into_owned().map(|(k, v)| (k, v.trim().to_string())).collect()
}

/// The session of an administrator posting a form with the right token, or the page that refuses.
pub(crate) async fn admin_form(
    app: &App,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<(Session, Lang), Response> {
    let q = Common::default();
    let Some(session) = session_of(app, headers).await else { return Err(to_login()) };
    let lang = lang_of(headers, &q);
    if session.staff.role != Role::Administrator {
        return Err(refusal(app, lang, &session, &tonic::Status::permission_denied("role"), &q));
    }
    if form.get("csrf") != Some(&session.csrf) {
        return Err(crate::pages::csrf_refused(app, lang, &session, "admin_form", "").await);
    }
    Ok((session, lang))
}

/// POST /accounts: adds (or resets) an account; its generated password is shown once.
pub async fn add(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = fields(&body);
    let (session, lang) = match admin_form(&app, &headers, &form).await {
        Ok(ok) => ok,
        Err(page) => return page,
    };
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let Some(role) = Role::parse(&get("role")) else {
        let mut frame = frame_of(&session);
        frame.error = Some(words(lang)["fix_fields"].into());
        return accounts_page(&app, lang, frame, None, StatusCode::BAD_REQUEST).await;
    };
    let username = get("username");
    let display_name = if get("name").is_empty() { username.clone() } else { get("name") };
    let staff = Staff {
        username: username.clone(),
        display_name,
        role,
        org_id: get("org_id"),
        jurisdiction: get("jurisdiction"),
    };
    // An account of the identity platform only has no password to show.
    let password = (get("sso_only") != "on").then(accounts::generate_password);
    match accounts::put(&app.db, &staff, password.as_deref()).await {
        Ok(()) => {
            app.audit(&session.staff.username, "account_add", &username, "ok").await;
            let mut frame = frame_of(&session);
            if password.is_none() {
                frame.notice = Some(words(lang)["done"].into());
            }
            accounts_page(&app, lang, frame, password.map(|p| (username, p)), StatusCode::OK).await
        }
        Err(e) => {
            app.audit(&session.staff.username, "account_add", &username, "refused").await;
            let mut frame = frame_of(&session);
            frame.error = Some(e.to_string());
            accounts_page(&app, lang, frame, None, StatusCode::BAD_REQUEST).await
        }
    }
}

/// POST /accounts/{username}/disable: the account can no longer sign in; its sessions end now.
pub async fn disable(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(username): Path<String>,
    body: Bytes,
) -> Response {
    let form = fields(&body);
    let (session, lang) = match admin_form(&app, &headers, &form).await {
        Ok(ok) => ok,
        Err(page) => return page,
    };
    let done = accounts::disable(&app.db, &username).await;
    app.audit(&session.staff.username, "account_disable", &username, if done.is_ok() { "ok" } else { "failed" }).await;
    let mut frame = frame_of(&session);
    match done {
        Ok(()) => frame.notice = Some(words(lang)["done"].into()),
        Err(_) => frame.error = Some(words(lang)["unavailable"].into()),
    }
    accounts_page(&app, lang, frame, None, StatusCode::OK).await
}

/// GET /subsidy?month=2026-12: the organisation head's statement of a month.
pub async fn subsidy(State(app): State<Arc<App>>, headers: HeaderMap, Query(q): Query<Common>) -> Response {
    let Some(session) = session_of(&app, &headers).await else { return to_login() };
    let lang = lang_of(&headers, &q);
    if session.staff.role != Role::OrgHead {
        return refusal(&app, lang, &session, &tonic::Status::permission_denied("role"), &q);
    }
    let month = q.period.clone().filter(|p| !p.is_empty()).unwrap_or_else(crate::oversight::this_month);
    let request = GetSubsidyStatementRequest { org_id: session.staff.org_id.clone(), month: month.clone() };
    let statement = match app.mediation.clone().get_subsidy_statement(request).await {
        Ok(r) => r.into_inner().statement.unwrap_or_default(),
        Err(status) => return refusal(&app, lang, &session, &status, &q),
    };
    let yuan = |fen: i64| format!("{}.{:02}", fen / 100, fen % 100);
    let lines: Vec<_> = statement
        .lines
        .iter()
        .map(|l| context! { case_no => l.case_no, mediator => l.mediator_id, tier => l.tier, amount => yuan(l.amount_fen) })
        .collect();
    let mediators: Vec<_> = statement
        .mediators
        .iter()
        .map(|m| context! { mediator => m.mediator_id, cases => m.cases, amount => yuan(m.amount_fen) })
        .collect();
    let html = render(
        &app.templates,
        "subsidy.html",
        lang,
        &frame_of(&session),
        context! { month => month, lines => lines, mediators => mediators, cases => statement.cases, total => yuan(statement.amount_fen) },
    );
    page(StatusCode::OK, html, &q)
}

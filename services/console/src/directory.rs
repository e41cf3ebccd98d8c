//! The administrator's directory page: the mediation organisations (routing's
//! directory, filtered by area code) and one organisation's mediators, added
//! or changed through routing's API. A mediator's id is their console
//! sign-in name, so the head's assignment form and the mediation record name
//! the same person.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::Response;
use fengqiao_proto::fengqiao::routing::v1::{
    ListMediatorsRequest, ListOrganisationsRequest, Mediator, Organisation, UpsertMediatorRequest,
    UpsertOrganisationRequest,
};
use http::{HeaderMap, StatusCode};
use minijinja::context;
use serde::Deserialize;

use crate::accounts::Role;
use crate::admin::{admin_form, fields, frame_of};
use crate::app::App;
use crate::i18n::{words, Lang};
use crate::pages::{lang_of, page, refusal, session_of, to_login, Common};
use crate::sessions::Session;
use crate::views::{render, Frame};

fn names(list: &str) -> Vec<String> {
    list.split([',', '，']).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

/// The page's query: an area-code prefix and the organisation opened.
#[derive(Deserialize, Default)]
pub struct DirectoryQuery {
    division: Option<String>,
    org: Option<String>,
    lang: Option<String>,
}

/// GET /directory (administrators).
pub async fn show(State(app): State<Arc<App>>, headers: HeaderMap, Query(d): Query<DirectoryQuery>) -> Response {
    let q = Common { lang: d.lang.clone(), ..Default::default() };
    let Some(session) = session_of(&app, &headers).await else { return to_login() };
    let lang = lang_of(&headers, &q);
    if session.staff.role != Role::Administrator {
        return refusal(&app, lang, &session, &tonic::Status::permission_denied("role"), &q);
    }
    let frame = frame_of(&session);
    let division = d.division.unwrap_or_default();
    let org = d.org.unwrap_or_default();
    directory_page(&app, lang, &session, frame, &division, &org, StatusCode::OK, &q).await
}

#[allow(clippy::too_many_arguments)]
async fn directory_page(
    app: &App,
    lang: Lang,
    session: &Session,
    frame: Frame,
    division: &str,
    org: &str,
    status: StatusCode,
    q: &Common,
) -> Response {
    let request =
        ListOrganisationsRequest { division_prefix: division.to_string(), page_size: 1000, ..Default::default() };
    let organisations = match app.routing.clone().list_organisations(request).await {
        Ok(r) => r.into_inner().organisations,
        Err(status) => return refusal(app, lang, session, &status, q),
    };
    let mediators = if org.is_empty() {
        Vec::new()
    } else {
        match app.routing.clone().list_mediators(ListMediatorsRequest { org_id: org.to_string() }).await {
            Ok(r) => r.into_inner().mediators,
            Err(status) => return refusal(app, lang, session, &status, q),
        }
    };
    let list: Vec<_> = organisations
        .iter()
        .map(|o| {
            context! { org_id => o.org_id, name => o.name, kind => o.kind, level => o.level,
            division_code => o.division_code, open => o.open_referrals }
        })
        .collect();
    let opened = organisations.iter().find(|o| o.org_id == org).map(|o| {
        context! { org_id => o.org_id, name => o.name, kind => o.kind, level => o.level, division_code => o.division_code,
        capacity => o.capacity, categories => o.categories.join(", "), agency_id => o.agency_id, contact => o.contact }
    });
    let people: Vec<_> = mediators
        .iter()
        .map(|m| {
            context! { id => m.mediator_id, name => m.name, specialties => m.specialties.join(", "), available => m.available }
        })
        .collect();
    let html = render(
        &app.templates,
        "directory.html",
        lang,
        &frame,
        context! { organisations => list, opened => opened, mediators => people, division => division, kinds => fengqiao_domain::org::KINDS },
    );
    page(status, html, q)
}

/// POST /directory/mediators: adds or changes a mediator of an organisation.
pub async fn save_mediator(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = fields(&body);
    let (session, lang) = match admin_form(&app, &headers, &form).await {
        Ok(ok) => ok,
        Err(page) => return page,
    };
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let mediator = Mediator {
        mediator_id: get("mediator_id"),
        org_id: get("org_id"),
        name: get("name"),
        specialties: names(&get("specialties")),
        available: form.get("available").is_some_and(|v| v == "on"),
    };
    let id = mediator.mediator_id.clone();
    let org = mediator.org_id.clone();
    let done =
        app.routing.clone().upsert_mediator(UpsertMediatorRequest { mediator: Some(mediator) }).await.map(|_| ());
    saved(&app, session, lang, "mediator_save", &id, &org, done).await
}

/// POST /directory/organisations: adds or changes an organisation.
pub async fn save_organisation(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = fields(&body);
    let (session, lang) = match admin_form(&app, &headers, &form).await {
        Ok(ok) => ok,
        Err(page) => return page,
    };
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let organisation = Organisation {
        org_id: get("org_id"),
        name: get("name"),
        kind: get("kind"),
        level: get("level").parse().unwrap_or(0),
        division_code: get("division_code"),
        capacity: get("capacity").parse().unwrap_or(0),
        categories: names(&get("categories")),
        agency_id: get("agency_id"),
        contact: get("contact"),
        open_referrals: 0,
    };
    let id = organisation.org_id.clone();
    let request = UpsertOrganisationRequest { organisation: Some(organisation) };
    let done = app.routing.clone().upsert_organisation(request).await.map(|_| ());
    saved(&app, session, lang, "organisation_save", &id, &id, done).await
}

/// The directory after a save, with `org` opened, or the refusal; either way the save is audited.
async fn saved(
    app: &App,
    session: Session,
    lang: Lang,
    action: &str,
    id: &str,
    org: &str,
    done: Result<(), tonic::Status>,
) -> Response {
    app.audit_done(&session.staff.username, action, id, &done).await;
    let q = Common::default();
    match done {
        Ok(()) => {
            let mut frame = frame_of(&session);
            frame.notice = Some(words(lang)["done"].into());
            directory_page(app, lang, &session, frame, "", org, StatusCode::OK, &q).await
        }
        Err(status) => refusal(app, lang, &session, &status, &q),
    }
}

//! The counter: registering a dispute brought to the centre (walk-in, grid
//! worker, hotline) through the gateway as the centre, the receipt with the
//! case number and verification code for the party, and the party's own
//! progress page (no sign-in: case number and code, throttled by the gateway).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::Response;
use fengqiao_proto::fengqiao::common::v1::{Category, Dispute, Location, Party, PartyRole, Source};
use fengqiao_proto::fengqiao::gateway::v1::{LookupProgressRequest, SubmitDisputeRequest};
use http::{HeaderMap, StatusCode};
use minijinja::context;

use crate::app::App;
use crate::i18n::{category_name, next_step, source_name, state_name, words, Lang};
use crate::pages::{lang_of, page, refusal, session_of, to_login, Common};
use crate::views::{render, Frame, Problem};

/// The sources a counter registers.
const SOURCES: [Source; 3] = [Source::WalkIn, Source::Grid, Source::Hotline];

fn choices<T: Copy>(all: &[T], name: impl Fn(T) -> &'static str, value: impl Fn(T) -> i32) -> Vec<minijinja::Value> {
    all.iter().map(|c| context! { value => value(*c), name => name(*c) }).collect()
}

fn categories() -> Vec<Category> {
    (1..=14).filter_map(|n| Category::try_from(n).ok()).collect()
}

/// The division code an organisation's id ends with (`village-620802001001`).
fn division_of(org_id: &str) -> &str {
    org_id.rsplit('-').next().filter(|d| d.bytes().all(|b| b.is_ascii_digit())).unwrap_or("")
}

fn form_page(
    app: &App,
    lang: Lang,
    frame: &Frame,
    values: &HashMap<String, String>,
    q: &Common,
    status: StatusCode,
) -> Response {
    let staff_division = frame.staff.as_ref().map(|s| division_of(&s.org_id).to_string()).unwrap_or_default();
    let value = |k: &str| values.get(k).cloned().unwrap_or_default();
    let division = values.get("division_code").cloned().unwrap_or(staff_division);
    let reference = values.get("reference").cloned().unwrap_or_else(|| format!("ZX-{}", uuid::Uuid::now_v7().simple()));
    let html = render(
        &app.templates,
        "register.html",
        lang,
        frame,
        context! {
            sources => choices(&SOURCES, |s| source_name(s as i32, lang), |s| s as i32),
            categories => choices(&categories(), |c| category_name(c as i32, lang), |c| c as i32),
            source => value("source"), category => value("category"), division_code => division,
            grid_id => value("grid_id"), address => value("address"), narrative => value("narrative"),
            applicant => value("applicant"), applicant_phone => value("applicant_phone"),
            respondent => value("respondent"), reference => reference,
            latitude => value("latitude"), longitude => value("longitude"),
            accuracy_m => value("accuracy_m"), point_source => value("point_source"),
        },
    );
    page(status, html, q)
}

/// GET /register: the counter's form.
pub async fn register_page(State(app): State<Arc<App>>, headers: HeaderMap, Query(q): Query<Common>) -> Response {
    let Some(session) = session_of(&app, &headers).await else { return to_login() };
    let lang = lang_of(&headers, &q);
    let frame = Frame { staff: Some(session.staff.clone()), csrf: session.csrf.clone(), ..Default::default() };
    form_page(&app, lang, &frame, &HashMap::new(), &q, StatusCode::OK)
}

/// POST /register: registers the dispute (with its photos' metadata) and shows the receipt.
pub async fn register(State(app): State<Arc<App>>, request: axum::extract::Request) -> Response {
    let q = Common::default();
    let headers = request.headers().clone();
    let Some(session) = session_of(&app, &headers).await else { return to_login() };
    let lang = lang_of(&headers, &q);
    let mut frame = Frame { staff: Some(session.staff.clone()), csrf: session.csrf.clone(), ..Default::default() };
    let Some(crate::upload::UploadForm { fields, files: photos, photo_point }) =
        crate::upload::read(request, true).await
    else {
        frame.error = Some(words(lang)["form_unreadable"].into());
        return form_page(&app, lang, &frame, &HashMap::new(), &q, StatusCode::BAD_REQUEST);
    };
    if fields.get("csrf") != Some(&session.csrf) {
        frame.error = Some(words(lang)["csrf"].into());
        return form_page(&app, lang, &frame, &fields, &q, StatusCode::FORBIDDEN);
    }
    if !session.staff.role.registers() {
        return refusal(&app, lang, &session, &tonic::Status::permission_denied("role"), &q);
    }
    // The degrees in the form (the phone's or typed) come before a photo's.
    let point = match crate::position::from_form(&fields) {
        Ok(point) => point.or(photo_point),
        Err(problems) => {
            frame.error = Some(words(lang)["fix_fields"].into());
            frame.violations = problems;
            return form_page(&app, lang, &frame, &fields, &q, StatusCode::BAD_REQUEST);
        }
    };
    let field = |k: &str| fields.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let number = |k: &str| field(k).parse::<i32>().unwrap_or(0);
    let mut parties = vec![Party {
        role: PartyRole::Applicant as i32,
        name: field("applicant"),
        phone: field("applicant_phone"),
        ..Default::default()
    }];
    if !field("respondent").is_empty() {
        parties.push(Party { role: PartyRole::Respondent as i32, name: field("respondent"), ..Default::default() });
    }
    let reference = field("reference");
    // The people the counter recorded; a larger group is told by the agency systems that know it.
    let headcount = parties.len() as u32;
    let dispute = Dispute {
        source: number("source"),
        external_ref: reference.clone(),
        category: number("category"),
        parties,
        location: Some(Location {
            division_code: field("division_code"),
            grid_id: field("grid_id"),
            address: field("address"),
            point,
        }),
        narrative: field("narrative"),
        headcount,
        attachments: photos.clone(),
        ..Default::default()
    };
    let request =
        app.centre.request(SubmitDisputeRequest { dispute: Some(dispute), ..Default::default() }, Some(&reference));
    let answer = app.centre.client().submit_dispute(request).await;
    let outcome = answer.as_ref().map_or_else(|s| format!("{:?}", s.code()), |_| "ok".into());
    let case_id =
        answer.as_ref().ok().and_then(|a| a.get_ref().status.as_ref()).map(|s| s.case_id.clone()).unwrap_or_default();
    app.audit(&session.staff.username, "register", &case_id, &outcome).await;
    match answer {
        Ok(answer) => {
            let answer = answer.into_inner();
            let status = answer.status.unwrap_or_default();
            frame.notice = Some(words(lang)["registered"].into());
            let html = render(
                &app.templates,
                "receipt.html",
                lang,
                &frame,
                context! { case_no => status.case_no, code => answer.verification_code, reference => reference,
                photos => photos.iter().map(crate::items::attachment_line).collect::<Vec<_>>(),
                point => point.as_ref().map(|p| crate::position::describe(p, lang)) },
            );
            page(StatusCode::OK, html, &q)
        }
        Err(status) if status.code() == tonic::Code::InvalidArgument => {
            frame.error = Some(words(lang)["fix_fields"].into());
            frame.violations = fengqiao_platform::status::violations(&status)
                .into_iter()
                .map(|v| Problem { field: v.field, description: v.description })
                .collect();
            form_page(&app, lang, &frame, &fields, &q, StatusCode::BAD_REQUEST)
        }
        Err(status) => refusal(&app, lang, &session, &status, &q),
    }
}

fn progress_page(
    app: &App,
    lang: Lang,
    frame: &Frame,
    found: minijinja::Value,
    case_no: &str,
    status: StatusCode,
    q: &Common,
) -> Response {
    let html = render(&app.templates, "progress.html", lang, frame, context! { found => found, case_no => case_no });
    page(status, html, q)
}

/// GET /progress: the party's look-up form (no sign-in).
pub async fn progress_form(State(app): State<Arc<App>>, headers: HeaderMap, Query(q): Query<Common>) -> Response {
    let lang = lang_of(&headers, &q);
    progress_page(&app, lang, &Frame::default(), minijinja::Value::UNDEFINED, "", StatusCode::OK, &q)
}

/// POST /progress: the case's progress, if the number and code match.
pub async fn progress(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let q = Common::default();
    let lang = lang_of(&headers, &q);
    let fields: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let case_no = fields.get("case_no").map(|s| s.trim().to_string()).unwrap_or_default();
    let code = fields.get("code").map(|s| s.trim().to_string()).unwrap_or_default();
    let w = words(lang);
    let refuse = |key: &str, status: StatusCode| {
        let frame = Frame { error: Some(w[key].to_string()), ..Default::default() };
        progress_page(&app, lang, &frame, minijinja::Value::UNDEFINED, &case_no, status, &q)
    };
    if !app.centre.is_configured() {
        return refuse("progress_off", StatusCode::SERVICE_UNAVAILABLE);
    }
    let request = app.centre.request(LookupProgressRequest { case_no: case_no.clone(), verification_code: code }, None);
    match app.centre.client().lookup_progress(request).await {
        Ok(answer) => {
            let p = answer.into_inner();
            let updated = p.updated_at.map(|t| crate::items::local_time(t.seconds)).unwrap_or_default();
            let found = context! {
                case_no => p.case_no, state => state_name(p.referral_state, lang), state_code => p.referral_state,
                next_step => next_step(p.referral_state, lang), org_id => p.org_id, updated_at => updated,
                returned => p.returned_to_sender,
            };
            progress_page(&app, lang, &Frame::default(), found, &case_no, StatusCode::OK, &q)
        }
        Err(s) if matches!(s.code(), tonic::Code::ResourceExhausted) => {
            refuse("lookup_throttled", StatusCode::TOO_MANY_REQUESTS)
        }
        Err(s) if matches!(s.code(), tonic::Code::NotFound | tonic::Code::InvalidArgument) => {
            refuse("lookup_failed", StatusCode::NOT_FOUND)
        }
        Err(_) => refuse("unavailable", StatusCode::SERVICE_UNAVAILABLE),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_organisation_id_gives_its_division() {
        assert_eq!(super::division_of("village-620802001001"), "620802001001");
        assert_eq!(super::division_of("county-620802-centre"), "");
        assert_eq!(super::division_of(""), "");
    }
}

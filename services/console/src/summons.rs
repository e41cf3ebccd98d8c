//! Joint summons (吹哨报到) in the console, through routing's API: on a case's
//! supervision page a supervisor summons departments (each request with a
//! response deadline) and records each department's answer as it comes in;
//! the requests are listed with the overdue marked. The figures dashboard
//! lists each department's response rate over its period.

use std::collections::HashMap;

use fengqiao_domain::report_period::ReportPeriod;
use fengqiao_platform::status::{invalid_argument, Violation};
use fengqiao_proto::fengqiao::routing::v1::{
    GetSummonsResponseRatesRequest, ListCaseSummonsRequest, RespondToSummonsRequest, SummonDepartmentsRequest,
};
use serde::Serialize;

use crate::app::App;
use crate::casework::field;
use crate::items::local;
use crate::pages::actor;
use crate::sessions::Session;

type Fields = HashMap<String, String>;

/// An assistance request as the supervision page lists it.
#[derive(Debug, Serialize)]
pub struct RequestView {
    /// Its id (the answer form's hidden field).
    pub assistance_id: String,
    /// The department asked.
    pub department: String,
    /// What was asked.
    pub request: String,
    /// Who asked, when.
    pub requested: String,
    /// When the answer is due.
    pub due: String,
    /// The answer and when it came, once given.
    pub response: String,
    /// Past its deadline without an answer.
    pub overdue: bool,
}

/// A department's figures as the dashboard lists them.
#[derive(Debug, Serialize)]
pub struct RateView {
    /// The department.
    pub department: String,
    /// Requests made to it in the period.
    pub requested: u32,
    /// Answered by their deadline.
    pub answered_in_time: u32,
    /// Unanswered past their deadline.
    pub overdue: u32,
    /// Answered in time / requested.
    pub rate: String,
}

/// The case's assistance requests, oldest first (empty, with a warning, when routing cannot answer).
pub async fn of_case(app: &App, case_id: &str) -> Vec<RequestView> {
    let request = ListCaseSummonsRequest { case_id: case_id.to_string() };
    let requests = match app.routing.clone().list_case_summons(request).await {
        Ok(r) => r.into_inner().requests,
        Err(e) => {
            tracing::warn!(code = ?e.code(), "cannot list a case's joint summons for its supervision page");
            return Vec::new();
        }
    };
    requests
        .into_iter()
        .map(|r| {
            let by = r.requested_by.as_ref().map(|a| a.person_id.clone()).unwrap_or_default();
            let response = if r.response.is_empty() {
                String::new()
            } else {
                format!("{} — {}", r.response, local(r.responded_at.as_ref()))
            };
            RequestView {
                requested: format!("{by}, {}", local(r.requested_at.as_ref())),
                due: local(r.due_at.as_ref()),
                assistance_id: r.assistance_id,
                department: r.department,
                request: r.request,
                response,
                overdue: r.overdue,
            }
        })
        .collect()
}

/// Summons the departments named in the form (separated by commas, spaces or lines).
pub async fn summon(app: &App, session: &Session, case_id: &str, fields: &Fields) -> Result<(), tonic::Status> {
    let departments: Vec<String> = field(fields, "departments")
        .split(|c: char| c == ',' || c == '，' || c.is_whitespace())
        .filter(|d| !d.is_empty())
        .map(str::to_string)
        .collect();
    let Ok(response_hours) = field(fields, "response_hours").parse::<u32>() else {
        return Err(invalid_argument(&[Violation::new("response_hours", "must be a whole number of hours, 1 to 720")]));
    };
    let request = SummonDepartmentsRequest {
        case_id: case_id.to_string(),
        departments,
        request: field(fields, "request"),
        response_hours,
        actor: actor(session),
    };
    app.routing.clone().summon_departments(request).await.map(|_| ())
}

/// Records a department's answer to its assistance request, as received.
pub async fn record_answer(app: &App, fields: &Fields) -> Result<(), tonic::Status> {
    let request = RespondToSummonsRequest {
        assistance_id: field(fields, "assistance_id"),
        department: field(fields, "department"),
        response: field(fields, "response"),
    };
    app.routing.clone().respond_to_summons(request).await.map(|_| ())
}

/// Each department's response rate over `period` (`2026-12`, `2026-Q4`); empty when the period is no period.
pub async fn rates(app: &App, period: &str) -> Vec<RateView> {
    let Ok(period) = ReportPeriod::parse(period) else { return Vec::new() };
    let at = |micros: i64| Some(prost_types::Timestamp { seconds: micros.div_euclid(1_000_000), nanos: 0 });
    let request = GetSummonsResponseRatesRequest { from: at(period.start), to: at(period.end) };
    match app.routing.clone().get_summons_response_rates(request).await {
        Ok(r) => r
            .into_inner()
            .rates
            .into_iter()
            .map(|d| RateView {
                rate: format!("{:.1}%", d.response_rate * 100.0),
                department: d.department,
                requested: d.requested,
                answered_in_time: d.answered_in_time,
                overdue: d.overdue,
            })
            .collect(),
        Err(e) => {
            tracing::warn!(code = ?e.code(), "cannot read the departments' summons response rates for the dashboard");
            Vec::new()
        }
    }
}

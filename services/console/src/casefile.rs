//! A referral's case file (卷宗) and subsidy (以案定补) on its page, through the
//! mediation API: the documents (added by staff, or derived from sessions,
//! the agreement and return visits), what a complete file still lacks, and
//! the tier and whether it is paid. Staff of the organisation add a document
//! by choosing the file: like the counter's photos, only its name, type, size
//! and SHA-256 pass through fengqiao; the file stays in the organisation's
//! own records.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use fengqiao_platform::status::{invalid_argument, Violation};
use fengqiao_proto::fengqiao::mediation::v1::{AddFileDocumentRequest, CaseWork, FileDocumentKind};
use serde::Serialize;

use crate::app::App;
use crate::i18n::{words, Lang};
use crate::pages::{actor, lang_of, refusal, session_of, to_login, Common};

/// A document as the page lists it.
#[derive(Debug, Serialize)]
pub struct DocumentView {
    /// What it is, in words.
    pub kind: String,
    /// Its title.
    pub title: String,
    /// Type, size and SHA-256 on one line.
    pub fingerprint: String,
    /// When it was added, local time.
    pub added_at: String,
    /// Derived by fengqiao from its own records.
    pub derived: bool,
}

/// The case file and subsidy as the page shows them.
#[derive(Debug, Serialize, Default)]
pub struct FileView {
    /// Every document.
    pub documents: Vec<DocumentView>,
    /// Nothing required is missing.
    pub complete: bool,
    /// What is missing, in words.
    pub missing: Vec<String>,
    /// The subsidy tier and amount, in words; empty when there is none.
    pub subsidy: String,
    /// Why it is not paid yet, when it is not.
    pub subsidy_why_not: String,
}

/// Why the subsidy is not paid yet, in the page's language: the first of the
/// conditions mediation's rules check (an agreement, performed, a complete file).
fn why_not_paid(work: &CaseWork, file_complete: bool, lang: Lang) -> String {
    use fengqiao_proto::fengqiao::common::v1::MediationOutcome;
    use fengqiao_proto::fengqiao::mediation::v1::PerformanceState;
    let outcome = work.item.as_ref().map_or(0, |i| i.outcome);
    let performance = work.performance.as_ref().map_or(0, |p| p.state);
    let key = if outcome != MediationOutcome::Agreement as i32 {
        "subsidy_needs_agreement"
    } else if performance != PerformanceState::Performed as i32 {
        "subsidy_needs_performance"
    } else if !file_complete {
        "subsidy_needs_file"
    } else {
        return String::new();
    };
    words(lang)[key].to_string()
}

/// The kinds staff add (the rest are derived), with their form values.
const ADDABLE: [(FileDocumentKind, &str); 3] = [
    (FileDocumentKind::Application, "application"),
    (FileDocumentKind::InvestigationRecord, "investigation"),
    (FileDocumentKind::Other, "other"),
];

fn kind_name(kind: i32, lang: Lang) -> &'static str {
    const NAMES: [(i32, &str, &str); 6] = [
        (1, "申请书或口头申请记录", "application"),
        (2, "调查记录", "investigation record"),
        (3, "调解记录", "mediation record"),
        (4, "调解协议书", "agreement"),
        (5, "回访记录", "return visit record"),
        (6, "其他材料", "other"),
    ];
    crate::i18n::pick(&NAMES, kind, lang)
}

/// The case file and subsidy of `work`.
pub fn view(work: &CaseWork, lang: Lang) -> FileView {
    let w = words(lang);
    let file = work.case_file.clone().unwrap_or_default();
    let documents = file
        .documents
        .iter()
        .map(|d| DocumentView {
            kind: kind_name(d.kind, lang).to_string(),
            title: d.title.clone(),
            fingerprint: if d.sha256.is_empty() {
                String::new()
            } else {
                format!("{} · {} B · SHA-256 {}", d.media_type, d.size_bytes, d.sha256)
            },
            added_at: crate::items::local(d.added_at.as_ref()),
            derived: d.derived,
        })
        .collect();
    let missing = file.missing.iter().map(|k| kind_name(*k, lang).to_string()).collect();
    let (subsidy, subsidy_why_not) = match &work.subsidy {
        Some(s) if s.tier > 0 => (
            format!("{} {} · ¥{}.{:02}", w["subsidy_tier"], s.tier, s.amount_fen / 100, s.amount_fen % 100),
            if s.eligible { String::new() } else { why_not_paid(work, file.complete, lang) },
        ),
        _ => (String::new(), String::new()),
    };
    FileView { documents, complete: file.complete, missing, subsidy, subsidy_why_not }
}

/// The kinds the add form offers: value and name.
pub fn addable(lang: Lang) -> Vec<minijinja::Value> {
    ADDABLE.iter().map(|(k, v)| minijinja::context! { value => v, name => kind_name(*k as i32, lang) }).collect()
}

/// POST /referrals/{id}/documents (multipart): adds the chosen file's fingerprint to the case file.
pub async fn add(State(app): State<Arc<App>>, Path(id): Path<String>, request: axum::extract::Request) -> Response {
    let q = Common::default();
    let headers = request.headers().clone();
    let Some(session) = session_of(&app, &headers).await else { return to_login() };
    let lang = lang_of(&headers, &q);
    let Some(form) = crate::upload::read(request, false).await else {
        let status = tonic::Status::invalid_argument(words(lang)["form_unreadable"]);
        return refusal(&app, lang, &session, &status, &q);
    };
    if form.fields.get("csrf") != Some(&session.csrf) {
        return crate::pages::csrf_refused(&app, lang, &session, "document", &id).await;
    }
    let done = if !session.staff.role.mediates() {
        Err(tonic::Status::permission_denied("role"))
    } else {
        add_document(&app, &actor(&session), &id, &form).await
    };
    app.audit_done(&session.staff.username, "document", &id, &done).await;
    match done {
        Ok(()) => crate::pages::referral_done(&app, lang, session, &id).await,
        Err(status) => refusal(&app, lang, &session, &status, &q),
    }
}

async fn add_document(
    app: &App,
    who: &Option<fengqiao_proto::fengqiao::common::v1::Actor>,
    id: &str,
    form: &crate::upload::UploadForm,
) -> Result<(), tonic::Status> {
    let field = |k: &str| crate::casework::field(&form.fields, k);
    let kind = ADDABLE.iter().find(|(_, v)| *v == field("kind")).map(|(k, _)| *k);
    let (Some(kind), [file]) = (kind, form.files.as_slice()) else {
        return Err(invalid_argument(&[Violation::new(
            "document",
            "choose what the document is and exactly one file (only its fingerprint is kept)",
        )]));
    };
    let title = if field("title").is_empty() { file.name.clone() } else { field("title") };
    let request = AddFileDocumentRequest {
        referral_id: id.to_string(),
        actor: who.clone(),
        kind: kind as i32,
        title,
        sha256: file.sha256.clone(),
        size_bytes: file.size_bytes,
        media_type: file.media_type.clone(),
    };
    app.mediation.clone().add_file_document(request).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_kind_has_a_name_and_only_three_are_added_by_hand() {
        use super::*;
        for n in 1..=6 {
            assert!(!kind_name(n, Lang::Zh).is_empty());
        }
        assert_eq!(addable(Lang::En).len(), 3);
    }
}

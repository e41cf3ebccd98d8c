//! The case file (卷宗): documents staff add (application, investigation
//! record, others) and those fengqiao derives from its own records (the held
//! sessions, the agreement, the visits), checked for completeness.

use fengqiao_domain::case_file;
use fengqiao_platform::db::timestamp;
use fengqiao_platform::status::Violation;
use fengqiao_proto::fengqiao::common::v1::{MediationOutcome, ReferralState};
use fengqiao_proto::fengqiao::mediation::v1::{
    AddFileDocumentRequest, CaseFile, FileDocument, FileDocumentKind, ReturnVisit, Session, SessionState,
};
use sqlx::{AnyConnection, Row};

use crate::access::{self, Who};
use crate::agreement::sha256_hex;
use crate::conclude::Concluded;
use crate::{MediationError, MediationService};

async fn added(conn: &mut AnyConnection, referral_id: &str) -> Result<Vec<FileDocument>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT kind, title, sha256, size_bytes, media_type, added_at FROM file_documents
         WHERE referral_id = $1 ORDER BY added_at",
    )
    .bind(referral_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(FileDocument {
                kind: r.try_get("kind")?,
                title: r.try_get("title")?,
                sha256: r.try_get("sha256")?,
                size_bytes: r.try_get::<i64, _>("size_bytes")? as u64,
                media_type: r.try_get("media_type")?,
                added_at: Some(timestamp(r.try_get("added_at")?)),
                derived: false,
            })
        })
        .collect()
}

fn derived(kind: FileDocumentKind, title: String, text: &str, at: Option<prost_types::Timestamp>) -> FileDocument {
    FileDocument {
        kind: kind as i32,
        title,
        sha256: sha256_hex(text),
        size_bytes: text.len() as u64,
        media_type: "text/plain; charset=utf-8".into(),
        added_at: at,
        derived: true,
    }
}

/// The case file of a referral, given what it already loaded.
pub(crate) async fn assemble(
    conn: &mut AnyConnection,
    referral_id: &str,
    sessions: &[Session],
    concluded: Option<&Concluded>,
    visits: &[ReturnVisit],
) -> Result<CaseFile, sqlx::Error> {
    let mut documents = added(conn, referral_id).await?;
    for s in sessions.iter().filter(|s| s.state == SessionState::Held as i32) {
        documents.push(derived(FileDocumentKind::MediationRecord, "调解记录".into(), &s.record, s.held_at));
    }
    if let Some(c) = concluded.filter(|c| !c.document.is_empty()) {
        documents.push(FileDocument {
            sha256: c.sha256.clone(),
            ..derived(
                FileDocumentKind::Agreement,
                "人民调解协议书".into(),
                &c.document,
                Some(timestamp(c.concluded_at)),
            )
        });
    }
    for v in visits {
        let text = format!("{} {} {}", v.method, v.satisfaction, v.note);
        documents.push(derived(FileDocumentKind::ReturnVisit, "回访记录".into(), &text, v.visited_at));
    }
    let outcome = concluded.and_then(|c| MediationOutcome::try_from(c.outcome).ok()).unwrap_or_default();
    let present: Vec<FileDocumentKind> =
        documents.iter().map(|d| FileDocumentKind::try_from(d.kind).unwrap_or_default()).collect();
    let missing = case_file::missing(outcome, &present);
    Ok(CaseFile {
        documents,
        complete: missing.is_empty(),
        missing_explained: missing.iter().map(|k| case_file::explain(*k).to_string()).collect(),
        missing: missing.into_iter().map(|k| k as i32).collect(),
    })
}

fn check(r: &AddFileDocumentRequest) -> Vec<Violation> {
    let mut v = Vec::new();
    match FileDocumentKind::try_from(r.kind).unwrap_or_default() {
        FileDocumentKind::Application | FileDocumentKind::InvestigationRecord | FileDocumentKind::Other => {}
        FileDocumentKind::Unspecified => v.push(Violation::new("kind", "is APPLICATION, INVESTIGATION_RECORD or OTHER")),
        _ => v.push(Violation::new(
            "kind",
            "mediation records, agreements and return visits are derived: record the session, the conclusion or the visit",
        )),
    }
    if r.title.trim().is_empty() {
        v.push(Violation::new("title", "is required"));
    }
    if r.sha256.len() != 64 || !r.sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        v.push(Violation::new("sha256", "is 64 lower-case hex digits: the SHA-256 of the stored file"));
    }
    if r.size_bytes == 0 || r.size_bytes > i64::MAX as u64 {
        v.push(Violation::new("size_bytes", "is the file's size, more than 0"));
    }
    v
}

impl MediationService {
    /// Adds a document to a case file and answers the file.
    pub async fn add_document(&self, r: AddFileDocumentRequest) -> Result<CaseFile, MediationError> {
        let actor = r.actor.clone().unwrap_or_default();
        let violations = check(&r);
        if !violations.is_empty() {
            return Err(MediationError::Invalid(violations));
        }
        let mut tx = self.db.begin().await?;
        let stored = access::load_for_change(&mut tx, &r.referral_id, &actor, Who::LeadOrJoined).await?;
        let mut states = access::WORKING.to_vec();
        states.push(ReferralState::Completed);
        access::require(&stored, &states, "add a document")?;
        sqlx::query(
            "INSERT INTO file_documents (referral_id, kind, title, sha256, size_bytes, media_type, added_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&r.referral_id)
        .bind(r.kind)
        .bind(r.title.trim())
        .bind(&r.sha256)
        .bind(r.size_bytes as i64)
        .bind(r.media_type.trim())
        .bind(self.now())
        .execute(&mut *tx)
        .await?;
        let file = self.work_of(&mut tx, stored).await?.case_file.unwrap_or_default();
        tx.commit().await?;
        Ok(file)
    }
}

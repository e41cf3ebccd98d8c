//! Concluding a mediation with one of the outcomes of DESIGN.md §3.3, each with
//! what it must carry: an agreement's terms and signatures (rendered into its
//! document), the other routes told (art. 26), the refusing party (art. 17), why
//! it was withdrawn or terminated.

use fengqiao_domain::period::LOCAL;
use fengqiao_domain::referral::Action;
use fengqiao_platform::db::micros_of;
use fengqiao_platform::status::Violation;
use fengqiao_proto::fengqiao::common::v1::{Category, MediationOutcome};
use fengqiao_proto::fengqiao::mediation::v1::{
    AgreementDocument, AgreementForm, AgreementTerms, ConcludeMediationRequest, InboxItem, OtherRoute, PerformanceState,
};
use prost::Message;
use sqlx::{AnyConnection, Row};
use time::{Date, PrimitiveDateTime, Time};

use crate::access::{self, Who, UNDER_WAY};
use crate::agreement::{self, Facts};
use crate::{MediationError, MediationService, Step};

/// A checked conclusion, written with the referral's completion.
#[derive(Debug, Clone, Default)]
pub struct Conclusion {
    /// The outcome.
    pub outcome: i32,
    /// The agreement's terms.
    pub agreement: Option<AgreementTerms>,
    /// Routes told, for NO_AGREEMENT.
    pub routes_told: Vec<i32>,
    /// The refusing party, for PARTY_REFUSED.
    pub refusing_party: u32,
    /// The agreement document's template, text and hash.
    pub document: Option<(String, String, String)>,
    /// For TERMINATED: return the case to its sender.
    pub return_to_source: bool,
    /// When it concluded (microseconds).
    pub at: i64,
    /// The parties who apply jointly for judicial confirmation at signing (empty: none).
    pub confirmation_consents: Vec<u32>,
}

/// A local date `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Option<Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text, &format).ok()
}

/// The first instant after local date `d` (when a deadline on `d` has passed).
pub fn end_of(d: Date) -> i64 {
    let next = d.next_day().unwrap_or(d);
    (PrimitiveDateTime::new(next, Time::MIDNIGHT).assume_offset(LOCAL).unix_timestamp_nanos() / 1_000) as i64
}

fn check_agreement(terms: &AgreementTerms, parties: u32, now: i64, v: &mut Vec<Violation>) {
    let form = AgreementForm::try_from(terms.form).unwrap_or_default();
    if form == AgreementForm::Unspecified {
        v.push(Violation::new("agreement.form", "is required: WRITTEN or ORAL"));
    }
    if terms.terms.is_empty() || terms.terms.iter().any(|t| t.trim().is_empty() || t.contains(['\n', '\r'])) {
        v.push(Violation::new("agreement.terms", "list each obligation, none empty, each on one line"));
    }
    if terms.amount_fen < 0 {
        v.push(Violation::new("agreement.amount_fen", "cannot be negative"));
    }
    match parse_date(&terms.performance_deadline) {
        None => v.push(Violation::new("agreement.performance_deadline", "is required as a local date YYYY-MM-DD")),
        Some(d) if end_of(d) <= now => {
            v.push(Violation::new("agreement.performance_deadline", "has passed; give today or a later day"))
        }
        Some(_) => {}
    }
    if form == AgreementForm::Written {
        let mut signed: Vec<u32> = terms.signatures.iter().map(|s| s.party_number).collect();
        signed.sort_unstable();
        if signed != (1..=parties).collect::<Vec<_>>() {
            v.push(Violation::new(
                "agreement.signatures",
                format!("a written agreement needs one signature from each of the {parties} parties (art. 29)"),
            ));
        }
        for (i, s) in terms.signatures.iter().enumerate() {
            if s.signed_at.as_ref().is_some_and(|t| micros_of(t) > now) {
                v.push(Violation::new(format!("agreement.signatures[{i}].signed_at"), "is in the future"));
            }
        }
    }
}

/// The violations of a conclusion's details for its outcome, against a case with `parties` parties.
fn check(r: &ConcludeMediationRequest, outcome: MediationOutcome, parties: u32, now: i64) -> Vec<Violation> {
    let mut v = Vec::new();
    let only = |field: &str, when: &str| Violation::new(field, format!("is given only with outcome {when}"));
    match (&r.agreement, outcome) {
        (Some(terms), MediationOutcome::Agreement) => check_agreement(terms, parties, now, &mut v),
        (None, MediationOutcome::Agreement) => {
            v.push(Violation::new("agreement", "is required: the agreement's terms"))
        }
        (Some(_), _) => v.push(only("agreement", "AGREEMENT")),
        (None, _) => {}
    }
    if outcome == MediationOutcome::NoAgreement {
        if r.routes_told.is_empty()
            || r.routes_told.iter().any(|o| OtherRoute::try_from(*o).unwrap_or_default() == OtherRoute::Unspecified)
        {
            v.push(Violation::new(
                "routes_told",
                "name the routes the parties were told of (LITIGATION, ARBITRATION, ADMINISTRATIVE; art. 26)",
            ));
        }
    } else if !r.routes_told.is_empty() {
        v.push(only("routes_told", "NO_AGREEMENT"));
    }
    if outcome == MediationOutcome::PartyRefused {
        if r.refusing_party_number == 0 || r.refusing_party_number > parties {
            v.push(Violation::new(
                "refusing_party_number",
                format!("is required: the number (1 to {parties}) of the party who refused (art. 17)"),
            ));
        }
    } else if r.refusing_party_number != 0 {
        v.push(only("refusing_party_number", "PARTY_REFUSED"));
    }
    if matches!(outcome, MediationOutcome::Withdrawn | MediationOutcome::Terminated) && r.summary.trim().is_empty() {
        v.push(Violation::new("summary", "is required: why the mediation ended"));
    }
    if r.return_to_source && outcome != MediationOutcome::Terminated {
        v.push(only("return_to_source", "TERMINATED"));
    }
    match (&r.agreement, r.confirmation_consents.is_empty()) {
        (_, true) => {}
        (Some(terms), false) if outcome == MediationOutcome::Agreement => v.extend(crate::confirmation::check(
            &r.confirmation_consents,
            r.concerns_personal_status,
            &terms.terms,
            parties,
        )),
        _ => v.push(only("confirmation_consents", "AGREEMENT")),
    }
    v
}

/// Writes a conclusion in the completing transaction.
pub(crate) async fn record(
    conn: &mut AnyConnection,
    item: &InboxItem,
    c: &Conclusion,
    now: i64,
) -> Result<(), sqlx::Error> {
    let (template, text, hash) = c.document.clone().unwrap_or_default();
    let deadline = c.agreement.as_ref().map(|a| a.performance_deadline.clone()).unwrap_or_default();
    let performance = if c.agreement.is_some() { PerformanceState::Pending } else { PerformanceState::Unspecified };
    sqlx::query(
        "INSERT INTO conclusions (referral_id, outcome, agreement, routes_told, refusing_party, template_id, document,
             sha256, performance_deadline, performance_state, performance_note, concluded_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, '', $11)",
    )
    .bind(&item.referral_id)
    .bind(c.outcome)
    .bind(c.agreement.as_ref().map(Message::encode_to_vec))
    .bind(c.routes_told.iter().map(i32::to_string).collect::<Vec<_>>().join(","))
    .bind(c.refusing_party as i32)
    .bind(template)
    .bind(text)
    .bind(&hash)
    .bind(deadline)
    .bind(performance as i32)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if !c.confirmation_consents.is_empty() {
        crate::confirmation::request(conn, item, &c.confirmation_consents, &hash).await?;
    }
    Ok(())
}

/// A stored conclusion.
#[derive(Debug, Clone, Default)]
pub(crate) struct Concluded {
    pub outcome: i32,
    pub agreement: Option<AgreementTerms>,
    pub routes_told: Vec<i32>,
    pub refusing_party: u32,
    pub template_id: String,
    pub document: String,
    pub sha256: String,
    pub performance_deadline: String,
    pub performance_state: i32,
    pub performed_at: Option<i64>,
    pub performance_note: String,
    pub performance_recorded_at: Option<i64>,
    pub concluded_at: i64,
    pub confirmation_state: i32,
    pub confirmation_consents: Vec<u32>,
    pub confirmation_court: String,
    pub confirmation_reason: String,
}

/// The conclusion of a referral, if concluded.
pub(crate) async fn find(conn: &mut AnyConnection, referral_id: &str) -> Result<Option<Concluded>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT outcome, agreement, routes_told, refusing_party, template_id, document, sha256, performance_deadline,
             performance_state, performed_at, performance_note, performance_recorded_at, concluded_at,
             confirmation_state, confirmation_consents, confirmation_court, confirmation_reason
         FROM conclusions WHERE referral_id = $1",
    )
    .bind(referral_id)
    .fetch_optional(conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let agreement: Option<Vec<u8>> = r.try_get("agreement")?;
    let agreement = agreement
        .map(|a| AgreementTerms::decode(a.as_slice()))
        .transpose()
        .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    let routes: String = r.try_get("routes_told")?;
    Ok(Some(Concluded {
        outcome: r.try_get("outcome")?,
        agreement,
        routes_told: routes.split(',').filter_map(|x| x.parse().ok()).collect(),
        refusing_party: r.try_get::<i32, _>("refusing_party")? as u32,
        template_id: r.try_get("template_id")?,
        document: r.try_get("document")?,
        sha256: r.try_get("sha256")?,
        performance_deadline: r.try_get("performance_deadline")?,
        performance_state: r.try_get("performance_state")?,
        performed_at: r.try_get("performed_at")?,
        performance_note: r.try_get("performance_note")?,
        performance_recorded_at: r.try_get("performance_recorded_at")?,
        concluded_at: r.try_get("concluded_at")?,
        confirmation_state: r.try_get("confirmation_state")?,
        confirmation_consents: r
            .try_get::<String, _>("confirmation_consents")?
            .split(',')
            .filter_map(|n| n.parse().ok())
            .collect(),
        confirmation_court: r.try_get("confirmation_court")?,
        confirmation_reason: r.try_get("confirmation_reason")?,
    }))
}

impl MediationService {
    /// Concludes a mediation with its outcome's details; an agreement's
    /// document is rendered with the parties named in full (intake records the access).
    pub async fn conclude(
        &self,
        r: ConcludeMediationRequest,
    ) -> Result<(InboxItem, Option<AgreementDocument>), MediationError> {
        let actor = r.actor.clone().unwrap_or_default();
        let outcome = MediationOutcome::try_from(r.outcome).unwrap_or(MediationOutcome::Unspecified);
        let mut conn = self.db.pool().acquire().await?;
        let stored = access::load(&mut conn, &r.referral_id, &actor, Who::Lead).await?;
        drop(conn);
        let dispute = stored.item.dispute.clone().unwrap_or_default();
        let now = self.now();
        let violations = check(&r, outcome, stored.party_count(), now);
        if !violations.is_empty() {
            return Err(MediationError::Invalid(violations));
        }
        if outcome != MediationOutcome::Unspecified {
            access::require(&stored, &UNDER_WAY, "conclude the mediation")?;
        }
        let document = match &r.agreement {
            Some(terms) if outcome == MediationOutcome::Agreement => {
                let purpose = format!("agreement document of referral {}", r.referral_id);
                let parties = self
                    .peers
                    .parties(&stored.item.case_id, &actor, purpose)
                    .await
                    .map_err(MediationError::Upstream)?;
                let facts = Facts {
                    case_no: &stored.item.case_no,
                    org_id: &stored.item.org_id,
                    category: Category::try_from(dispute.category).unwrap_or(Category::Other),
                    facts: &dispute.narrative,
                    parties: &parties,
                    terms,
                    mediator: &stored.item.lead_mediator_id,
                    concluded_at: now,
                };
                Some(agreement::render(&facts).map_err(|e| MediationError::Unexpected(e.into()))?)
            }
            _ => None,
        };
        let conclusion = Conclusion {
            outcome: outcome as i32,
            agreement: r.agreement.clone(),
            routes_told: r.routes_told.clone(),
            refusing_party: r.refusing_party_number,
            document: document.clone(),
            return_to_source: r.return_to_source,
            at: now,
            confirmation_consents: r.confirmation_consents.clone(),
        };
        let step = Step {
            outcome,
            summary: r.summary.clone(),
            conclusion: Some(conclusion),
            ..Step::new(Action::Complete, actor)
        };
        let item = self.act(&r.referral_id, step).await?;
        let document = document.map(|(template_id, text, sha256)| AgreementDocument {
            referral_id: r.referral_id.clone(),
            template_id,
            text,
            sha256,
            rendered_at: Some(fengqiao_platform::db::timestamp(now)),
        });
        Ok((item, document))
    }
}

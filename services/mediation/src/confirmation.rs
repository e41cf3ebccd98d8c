//! Judicial confirmation (司法确认) as the organisation files it: the parties'
//! joint application — at signing or later within its 30-day window — and the
//! court's acceptance and ruling, followed from court linkage's events.

use fengqiao_domain::calendar::Calendar;
use fengqiao_domain::confirmation;
use fengqiao_domain::period::{instant, last_day, local_date, Period};
use fengqiao_platform::bus::Envelope;
use fengqiao_platform::consumer::HandlerError;
use fengqiao_platform::outbox;
use fengqiao_platform::status::Violation;
use fengqiao_proto::fengqiao::common::v1::MediationOutcome;
use fengqiao_proto::fengqiao::court::v1::ConfirmationState;
use fengqiao_proto::fengqiao::events::v1::{ConfirmationAccepted, ConfirmationDecided, ConfirmationRequested};
use fengqiao_proto::fengqiao::mediation::v1::{ApplyForConfirmationRequest, Confirmation, InboxItem};
use fengqiao_proto::EventKind;
use sqlx::{Any, AnyConnection, Transaction};

use crate::access::{self, Who};
use crate::conclude::{self, Concluded};
use crate::{MediationError, MediationService};

/// The last local day of the application window of an agreement concluded at `concluded_at`.
pub(crate) fn window_ends(concluded_at: i64, window: Period) -> time::Date {
    last_day(instant(concluded_at), window, &Calendar::national())
}

/// The confirmation of a concluded agreement, as it stands.
pub(crate) fn view(c: &Concluded, window: Period) -> Option<Confirmation> {
    c.agreement.as_ref()?;
    Some(Confirmation {
        state: c.confirmation_state,
        window_ends: window_ends(c.concluded_at, window).to_string(),
        court_id: c.confirmation_court.clone(),
        reason: c.confirmation_reason.clone(),
        consenting_party_numbers: c.confirmation_consents.clone(),
    })
}

/// The violations of an application by `consents` for an agreement with `terms` among `parties`.
pub(crate) fn check(consents: &[u32], declared: bool, terms: &[String], parties: u32) -> Vec<Violation> {
    let mut v = Vec::new();
    if let Err(e) = confirmation::joint(consents, parties) {
        v.push(Violation::new("confirmation_consents", e));
    }
    if let Err(e) = confirmation::confirmable(declared, terms) {
        v.push(Violation::new("concerns_personal_status", e));
    }
    v
}

/// Records the application and announces it to the court, in the caller's transaction.
pub(crate) async fn request(
    conn: &mut AnyConnection,
    item: &InboxItem,
    consents: &[u32],
    agreement_sha256: &str,
) -> Result<(), sqlx::Error> {
    let joined = consents.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    sqlx::query("UPDATE conclusions SET confirmation_state = $1, confirmation_consents = $2 WHERE referral_id = $3")
        .bind(ConfirmationState::Applied as i32)
        .bind(joined)
        .bind(&item.referral_id)
        .execute(&mut *conn)
        .await?;
    let event = ConfirmationRequested {
        case_id: item.case_id.clone(),
        referral_id: item.referral_id.clone(),
        org_id: item.org_id.clone(),
        consenting_party_numbers: consents.to_vec(),
        agreement_sha256: agreement_sha256.to_string(),
        division_code: item
            .dispute
            .as_ref()
            .and_then(|d| d.location.as_ref())
            .map_or(String::new(), |l| l.division_code.clone()),
    };
    outbox::append(conn, &Envelope::new("mediation", EventKind::ConfirmationRequested, &event)).await
}

/// Keeps the court's acceptance and ruling on the conclusion.
pub(crate) async fn follow(tx: &mut Transaction<'static, Any>, event: &Envelope) -> Result<(), HandlerError> {
    let (referral_id, state, court, reason) = match event.kind() {
        Some(EventKind::ConfirmationAccepted) => {
            let e: ConfirmationAccepted = event.decode()?;
            (e.referral_id, ConfirmationState::Accepted, e.court_id, String::new())
        }
        Some(EventKind::ConfirmationDecided) => {
            let e: ConfirmationDecided = event.decode()?;
            let state = if e.valid { ConfirmationState::Valid } else { ConfirmationState::Rejected };
            (e.referral_id, state, e.court_id, e.reason)
        }
        _ => return Ok(()),
    };
    // Only forward: a late acceptance never undoes a ruling.
    sqlx::query(
        "UPDATE conclusions SET confirmation_state = $1, confirmation_court = $2, confirmation_reason = $3
         WHERE referral_id = $4 AND confirmation_state < $1",
    )
    .bind(state as i32)
    .bind(court)
    .bind(reason)
    .bind(referral_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl MediationService {
    /// The parties apply jointly after signing, within the window.
    pub async fn apply_for_confirmation(&self, r: ApplyForConfirmationRequest) -> Result<Confirmation, MediationError> {
        let actor = r.actor.clone().unwrap_or_default();
        let mut tx = self.db.begin().await?;
        let stored = access::load_for_change(&mut tx, &r.referral_id, &actor, Who::Lead).await?;
        let concluded = conclude::find(&mut tx, &r.referral_id).await?;
        let concluded = concluded.filter(|c| c.outcome == MediationOutcome::Agreement as i32).ok_or_else(|| {
            MediationError::Precondition("only an agreement is judicially confirmed; this mediation has none".into())
        })?;
        let terms = concluded.agreement.as_ref().map(|a| a.terms.clone()).unwrap_or_default();
        let v = check(&r.consenting_party_numbers, r.concerns_personal_status, &terms, stored.party_count());
        if !v.is_empty() {
            return Err(MediationError::Invalid(v));
        }
        if concluded.confirmation_state != ConfirmationState::Unspecified as i32 {
            return Err(MediationError::Precondition("the parties have already applied for confirmation".into()));
        }
        let ends = window_ends(concluded.concluded_at, self.confirmation_window);
        let today = local_date(self.now());
        if today > ends {
            return Err(MediationError::Precondition(format!(
                "the 30-day window for a joint application closed on {ends} (art. 33); the parties may sue instead"
            )));
        }
        request(&mut tx, &stored.item, &r.consenting_party_numbers, &concluded.sha256).await?;
        let concluded = conclude::find(&mut tx, &r.referral_id).await?.expect("exists");
        tx.commit().await?;
        self.outbox.notify();
        Ok(view(&concluded, self.confirmation_window).expect("an agreement"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    #[test]
    fn the_application_window_ends_on_a_working_day() {
        let micros = |t: OffsetDateTime| (t.unix_timestamp_nanos() / 1_000) as i64;
        // Signed 5 September: the thirtieth day, 5 October, falls in the National Day break.
        let signed = micros(time::macros::datetime!(2026-09-05 10:00 +8));
        assert_eq!(window_ends(signed, Period::Days(30)), time::macros::date!(2026 - 10 - 08));
        // Signed 2 November: 2 December is a Wednesday.
        let signed = micros(time::macros::datetime!(2026-11-02 23:30 +8));
        assert_eq!(window_ends(signed, Period::Days(30)), time::macros::date!(2026 - 12 - 02));
    }
}

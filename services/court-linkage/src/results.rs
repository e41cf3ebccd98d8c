//! What the court does next with a delegation: take the agreement, or proceed
//! to filing (立案) — after no agreement, a refusal, a withdrawal or
//! termination, a return (no organisation could take it), or when the mediation
//! period ran out. Decided once, by the first of those events.

use fengqiao_proto::fengqiao::common::v1::MediationOutcome;
use fengqiao_proto::fengqiao::court::v1::{CourtResult, Delegation};
use fengqiao_proto::fengqiao::events::v1::MediationConcluded;

/// The clocks whose breach means the court's mediation period ran out.
pub const COURT_CLOCKS: [&str; 3] = ["PRE_LITIGATION", "IN_LITIGATION", "IN_LITIGATION_SIMPLIFIED"];

/// The result a conclusion brings.
pub fn of_conclusion(e: &MediationConcluded) -> Delegation {
    let outcome = MediationOutcome::try_from(e.outcome).unwrap_or_default();
    let reason = match outcome {
        MediationOutcome::Agreement => {
            return Delegation {
                result: CourtResult::Agreement as i32,
                agreement_sha256: e.agreement_sha256.clone(),
                agreement_terms: e.agreement_terms.clone(),
                agreement_amount_fen: e.agreement_amount_fen,
                performance_deadline: e.performance_deadline.clone(),
                ..Default::default()
            }
        }
        MediationOutcome::NoAgreement => "no agreement was reached (未达成调解协议)".to_string(),
        MediationOutcome::PartyRefused => "a party refused mediation (人民调解法 art. 17)".to_string(),
        MediationOutcome::Withdrawn => format!("the applicant withdrew: {}", e.summary),
        MediationOutcome::Terminated => format!("mediation was terminated: {}", e.summary),
        MediationOutcome::Unspecified => return Delegation::default(),
    };
    proceed(reason)
}

/// Proceed to filing, for `reason`.
pub fn proceed(reason: String) -> Delegation {
    Delegation { result: CourtResult::ProceedToFiling as i32, filing_reason: reason, ..Default::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_but_agreement_sends_the_case_to_filing_with_its_reason() {
        let concluded = |outcome: MediationOutcome| MediationConcluded {
            outcome: outcome as i32,
            summary: "涉嫌刑事犯罪".into(),
            agreement_sha256: "ab".repeat(32),
            agreement_terms: vec!["赔偿".into()],
            ..Default::default()
        };
        let agreed = of_conclusion(&concluded(MediationOutcome::Agreement));
        assert_eq!((agreed.result, agreed.agreement_terms.len()), (CourtResult::Agreement as i32, 1));
        for (outcome, says) in [
            (MediationOutcome::NoAgreement, "no agreement"),
            (MediationOutcome::PartyRefused, "art. 17"),
            (MediationOutcome::Withdrawn, "withdrew"),
            (MediationOutcome::Terminated, "涉嫌刑事犯罪"),
        ] {
            let d = of_conclusion(&concluded(outcome));
            assert_eq!(d.result, CourtResult::ProceedToFiling as i32, "{outcome:?}");
            assert!(
                d.filing_reason.contains(says) && d.agreement_sha256.is_empty(),
                "{outcome:?}: {}",
                d.filing_reason
            );
        }
    }
}

//! What a mediation case file (卷宗) must hold, by how the mediation ended
//! (DESIGN.md §3.3): what is missing is listed in words staff act on.

use fengqiao_proto::fengqiao::common::v1::MediationOutcome;
use fengqiao_proto::fengqiao::mediation::v1::FileDocumentKind as Kind;

/// The documents a file needs once the mediation ended with `outcome`
/// (UNSPECIFIED: still under way — what it needs by then).
pub fn required(outcome: MediationOutcome) -> &'static [Kind] {
    use Kind::*;
    match outcome {
        MediationOutcome::Agreement => &[Application, InvestigationRecord, MediationRecord, Agreement, ReturnVisit],
        // A refusal or a withdrawal may come before any investigation or session.
        MediationOutcome::PartyRefused | MediationOutcome::Withdrawn => &[Application],
        MediationOutcome::NoAgreement | MediationOutcome::Terminated | MediationOutcome::Unspecified => {
            &[Application, InvestigationRecord, MediationRecord]
        }
    }
}

/// What `present` lacks of what `outcome` requires, in the required order.
pub fn missing(outcome: MediationOutcome, present: &[Kind]) -> Vec<Kind> {
    required(outcome).iter().copied().filter(|k| !present.contains(k)).collect()
}

/// What staff do to supply `kind`.
pub fn explain(kind: Kind) -> &'static str {
    match kind {
        Kind::Application => "add the application (申请书) or the record of the oral application",
        Kind::InvestigationRecord => "add the investigation record (调查记录)",
        Kind::MediationRecord => "record at least one held session with what was said (调解记录)",
        Kind::Agreement => "conclude with the agreement's terms so its document is rendered (调解协议书)",
        Kind::ReturnVisit => "record a return visit with the parties' satisfaction (回访记录)",
        Kind::Other | Kind::Unspecified => "add the document",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Kind::*;

    #[test]
    fn completeness_table_by_outcome() {
        let all = [Application, InvestigationRecord, MediationRecord, Agreement, ReturnVisit];
        // (outcome, documents present, missing)
        let table: &[(MediationOutcome, &[Kind], &[Kind])] = &[
            (MediationOutcome::Agreement, &all, &[]),
            (
                MediationOutcome::Agreement,
                &[Application, MediationRecord, Agreement],
                &[InvestigationRecord, ReturnVisit],
            ),
            (MediationOutcome::Agreement, &[], &all),
            (MediationOutcome::NoAgreement, &[Application, InvestigationRecord, MediationRecord], &[]),
            (MediationOutcome::NoAgreement, &[Application, Other], &[InvestigationRecord, MediationRecord]),
            (MediationOutcome::Terminated, &[Application, InvestigationRecord], &[MediationRecord]),
            (MediationOutcome::PartyRefused, &[Application], &[]),
            (MediationOutcome::PartyRefused, &[], &[Application]),
            (MediationOutcome::Withdrawn, &[Other], &[Application]),
            (MediationOutcome::Unspecified, &[Application], &[InvestigationRecord, MediationRecord]),
        ];
        for (outcome, present, expected) in table {
            assert_eq!(missing(*outcome, present), expected.to_vec(), "{outcome:?} with {present:?}");
        }
    }

    #[test]
    fn every_missing_document_says_what_to_do() {
        for kind in required(MediationOutcome::Agreement) {
            assert!(
                explain(*kind).starts_with("add")
                    || explain(*kind).starts_with("record")
                    || explain(*kind).starts_with("conclude")
            );
        }
    }
}

//! The per-case subsidy (以案定补): a case's difficulty tier by rules staff can
//! override, and when the tier's amount is paid (DESIGN.md §3.3).

use fengqiao_proto::fengqiao::common::v1::{MediationOutcome, RiskLevel};
use fengqiao_proto::fengqiao::mediation::v1::PerformanceState;

/// What the difficulty of a mediation is judged by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Difficulty {
    /// The case's risk level.
    pub risk: RiskLevel,
    /// People involved (≥ 5 is a group dispute).
    pub headcount: u32,
    /// Amount in dispute, in fen.
    pub amount_fen: i64,
    /// Sessions held.
    pub sessions_held: u32,
    /// True when other organisations joined the mediation.
    pub joint: bool,
}

/// 500,000 yuan.
const MAJOR_AMOUNT_FEN: i64 = 50_000_000;
/// 50,000 yuan.
const COMPLEX_AMOUNT_FEN: i64 = 5_000_000;
/// 5,000 yuan.
const ORDINARY_AMOUNT_FEN: i64 = 500_000;

/// The tier (1 simple … 4 major and difficult) and the rule that set it.
pub fn tier(d: &Difficulty) -> (u32, &'static str) {
    if d.risk == RiskLevel::Red {
        (4, "tier 4: a RED case")
    } else if d.headcount >= 5 {
        (4, "tier 4: a group dispute (5 or more people)")
    } else if d.amount_fen >= MAJOR_AMOUNT_FEN {
        (4, "tier 4: 500,000 yuan or more in dispute")
    } else if d.risk == RiskLevel::Orange {
        (3, "tier 3: an ORANGE case")
    } else if d.joint {
        (3, "tier 3: mediated jointly with other organisations")
    } else if d.amount_fen >= COMPLEX_AMOUNT_FEN {
        (3, "tier 3: 50,000 yuan or more in dispute")
    } else if d.sessions_held >= 4 {
        (3, "tier 3: four or more sessions held")
    } else if d.risk == RiskLevel::Yellow {
        (2, "tier 2: a YELLOW case")
    } else if d.amount_fen >= ORDINARY_AMOUNT_FEN {
        (2, "tier 2: 5,000 yuan or more in dispute")
    } else if d.sessions_held >= 2 {
        (2, "tier 2: two or more sessions held")
    } else {
        (1, "tier 1: a simple case")
    }
}

/// Whether the subsidy is paid: only for an agreement that was performed and
/// whose file is complete. `Err` says why not, in words staff act on.
pub fn payable(
    outcome: MediationOutcome,
    performance: PerformanceState,
    file_complete: bool,
) -> Result<(), &'static str> {
    if outcome != MediationOutcome::Agreement {
        return Err("paid only for a mediation concluded with an agreement");
    }
    if performance != PerformanceState::Performed {
        return Err("paid once the agreement is recorded as performed");
    }
    if !file_complete {
        return Err("paid once the case file is complete; see what it lacks");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(risk: RiskLevel, headcount: u32, amount_fen: i64, sessions_held: u32, joint: bool) -> Difficulty {
        Difficulty { risk, headcount, amount_fen, sessions_held, joint }
    }

    #[test]
    fn tier_table() {
        use RiskLevel::*;
        let table = [
            (d(Blue, 2, 0, 1, false), 1),
            (d(Unspecified, 2, 0, 0, false), 1),
            (d(Blue, 2, 499_999, 1, false), 1),
            (d(Blue, 2, 500_000, 1, false), 2),
            (d(Blue, 2, 0, 2, false), 2),
            (d(Yellow, 2, 0, 1, false), 2),
            (d(Blue, 2, 4_999_999, 3, false), 2),
            (d(Blue, 2, 5_000_000, 1, false), 3),
            (d(Blue, 2, 0, 4, false), 3),
            (d(Blue, 2, 0, 1, true), 3),
            (d(Orange, 4, 0, 1, false), 3),
            (d(Blue, 5, 0, 1, false), 4),
            (d(Blue, 2, 50_000_000, 1, false), 4),
            (d(Red, 2, 0, 0, false), 4),
        ];
        for (difficulty, expected) in table {
            assert_eq!(tier(&difficulty).0, expected, "{difficulty:?}: {}", tier(&difficulty).1);
        }
    }

    #[test]
    fn paid_only_for_a_performed_agreement_with_a_complete_file() {
        use MediationOutcome as O;
        use PerformanceState as P;
        assert_eq!(payable(O::Agreement, P::Performed, true), Ok(()));
        for (outcome, performance, complete) in [
            (O::Agreement, P::Performed, false),
            (O::Agreement, P::PartlyPerformed, true),
            (O::Agreement, P::Breached, true),
            (O::Agreement, P::Pending, true),
            (O::Agreement, P::Overdue, true),
            (O::NoAgreement, P::Unspecified, true),
            (O::PartyRefused, P::Unspecified, true),
        ] {
            assert!(payable(outcome, performance, complete).is_err(), "{outcome:?} {performance:?} {complete}");
        }
    }
}

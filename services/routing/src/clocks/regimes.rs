//! The kinds of clock and their configured periods, per jurisdiction.

use std::collections::BTreeMap;

use fengqiao_domain::calendar::Calendar;
use fengqiao_domain::period::Period;
use fengqiao_platform::config::ClockRegimes;

use super::Timing;

/// What a clock times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// From acceptance to conclusion, people's mediation.
    PeoplesMediation,
    /// From acceptance to conclusion, pre-litigation delegation.
    PreLitigation,
    /// From acceptance to conclusion, in-litigation entrustment (ordinary procedure).
    InLitigation,
    /// From acceptance to conclusion, in-litigation entrustment (simplified procedure).
    InLitigationSimplified,
    /// From registration to an organisation's acceptance, for a police hand-off.
    PoliceFeedback,
    /// From registration to an organisation's acceptance, by risk colour.
    RiskResponse,
    /// From a leader's assignment as owner to their acknowledgement.
    OwnerAcknowledgement,
    /// From a supervision notice to the organisation's response.
    SupervisionResponse,
    /// From a joint application for judicial confirmation to the court's acceptance.
    ConfirmationAcceptance,
    /// From the court's acceptance of a confirmation application to its ruling.
    ConfirmationDecision,
    /// From a petition's registration to an organisation's acceptance (信访工作条例: 15 days).
    PetitionAcceptance,
    /// From acceptance to conclusion, a petition matter (60 days, +30 with approval).
    PetitionHandling,
    /// From acceptance to conclusion, the answer to a petitioner's review request (30 days).
    PetitionReviewAnswer,
}

impl Kind {
    /// Its name in the API.
    pub fn name(self) -> &'static str {
        match self {
            Kind::PeoplesMediation => "PEOPLES_MEDIATION",
            Kind::PreLitigation => "PRE_LITIGATION",
            Kind::InLitigation => "IN_LITIGATION",
            Kind::InLitigationSimplified => "IN_LITIGATION_SIMPLIFIED",
            Kind::PoliceFeedback => "POLICE_FEEDBACK",
            Kind::RiskResponse => "RISK_RESPONSE",
            Kind::OwnerAcknowledgement => "OWNER_ACKNOWLEDGEMENT",
            Kind::SupervisionResponse => "SUPERVISION_RESPONSE",
            Kind::ConfirmationAcceptance => "CONFIRMATION_ACCEPTANCE",
            Kind::ConfirmationDecision => "CONFIRMATION_DECISION",
            Kind::PetitionAcceptance => "PETITION_ACCEPTANCE",
            Kind::PetitionHandling => "PETITION_HANDLING",
            Kind::PetitionReviewAnswer => "PETITION_REVIEW_ANSWER",
        }
    }

    /// Its configuration key (for risk, of a colour: RED, ORANGE, YELLOW, BLUE).
    fn key(self, risk: &str) -> &'static str {
        match self {
            Kind::PeoplesMediation => "peoples_mediation",
            Kind::PreLitigation => "pre_litigation",
            Kind::InLitigation => "in_litigation",
            Kind::InLitigationSimplified => "in_litigation_simplified",
            Kind::PoliceFeedback => "police_feedback",
            Kind::OwnerAcknowledgement => "owner_acknowledgement",
            Kind::SupervisionResponse => "supervision_response",
            Kind::ConfirmationAcceptance => "confirmation_acceptance",
            Kind::ConfirmationDecision => "confirmation_decision",
            Kind::PetitionAcceptance => "petition_acceptance",
            Kind::PetitionHandling => "petition_handling",
            Kind::PetitionReviewAnswer => "petition_review_answer",
            Kind::RiskResponse => match risk {
                "RED" => "risk_red",
                "ORANGE" => "risk_orange",
                "YELLOW" => "risk_yellow",
                _ => "risk_blue",
            },
        }
    }
}

/// The configured periods, read once and checked at start.
#[derive(Debug, Clone)]
pub struct Regimes {
    base: BTreeMap<&'static str, String>,
    /// Division-code prefix → overridden keys, longest prefix first.
    overrides: Vec<(String, BTreeMap<String, String>)>,
    timing: Timing,
}

impl Regimes {
    /// Checks every period and calendar file; the error names the key or file.
    pub fn new(raw: ClockRegimes) -> Result<Self, String> {
        let base: BTreeMap<&'static str, String> = [
            ("peoples_mediation", raw.peoples_mediation),
            ("pre_litigation", raw.pre_litigation),
            ("in_litigation", raw.in_litigation),
            ("in_litigation_simplified", raw.in_litigation_simplified),
            ("confirmation_application", raw.confirmation_application),
            ("confirmation_acceptance", raw.confirmation_acceptance),
            ("confirmation_decision", raw.confirmation_decision),
            ("petition_acceptance", raw.petition_acceptance),
            ("petition_handling", raw.petition_handling),
            ("petition_review_request", raw.petition_review_request),
            ("petition_review_answer", raw.petition_review_answer),
            ("police_feedback", raw.police_feedback),
            ("risk_red", raw.risk_red),
            ("risk_orange", raw.risk_orange),
            ("risk_yellow", raw.risk_yellow),
            ("risk_blue", raw.risk_blue),
            ("owner_acknowledgement", raw.owner_acknowledgement),
            ("supervision_response", raw.supervision_response),
        ]
        .into_iter()
        .collect();
        for (key, text) in &base {
            Period::parse(text).map_err(|e| format!("configuration key `clocks.{key}`: {e}"))?;
        }
        let mut overrides = Vec::new();
        for (prefix, keys) in raw.jurisdictions {
            if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_digit()) || prefix.len() > 12 {
                return Err(format!("configuration key `clocks.jurisdictions.{prefix}`: not a division-code prefix"));
            }
            for (key, text) in &keys {
                if !base.contains_key(key.as_str()) {
                    return Err(format!(
                        "configuration key `clocks.jurisdictions.{prefix}.{key}`: no such clock; one of {}",
                        base.keys().copied().collect::<Vec<_>>().join(", ")
                    ));
                }
                Period::parse(text)
                    .map_err(|e| format!("configuration key `clocks.jurisdictions.{prefix}.{key}`: {e}"))?;
            }
            overrides.push((prefix, keys));
        }
        overrides.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        if raw.warning_percent > 99 {
            return Err("configuration key `clocks.warning_percent`: 0 (no warnings) to 99".into());
        }
        let mut calendar = Calendar::national();
        for file in &raw.calendar_files {
            let csv = std::fs::read_to_string(file)
                .map_err(|e| format!("configuration key `clocks.calendar_files`: cannot read {file}: {e}"))?;
            calendar.add(&csv).map_err(|e| format!("configuration key `clocks.calendar_files`: {file}: {e}"))?;
        }
        let pre_litigation_cap = Period::parse(&raw.pre_litigation_extension_cap)
            .map_err(|e| format!("configuration key `clocks.pre_litigation_extension_cap`: {e}"))?;
        let petition_cap = Period::parse(&raw.petition_handling_extension_cap)
            .map_err(|e| format!("configuration key `clocks.petition_handling_extension_cap`: {e}"))?;
        let timing = Timing { calendar, warn_percent: raw.warning_percent, pre_litigation_cap, petition_cap };
        Ok(Self { base, overrides, timing })
    }

    /// The period text of a kind for a case in `division` (for risk, of a
    /// colour: RED, ORANGE, YELLOW, BLUE).
    pub fn period(&self, kind: Kind, risk: &str, division: &str) -> &str {
        let key = kind.key(risk);
        self.overrides
            .iter()
            .filter(|(prefix, _)| division.starts_with(prefix.as_str()))
            .find_map(|(_, keys)| keys.get(key))
            .unwrap_or_else(|| &self.base[key])
    }

    /// The calendar and warning share clocks are counted with.
    pub fn timing(&self) -> &Timing {
        &self.timing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_courts_confirmation_clocks_skip_past_national_day() {
        use fengqiao_domain::period::{ends_at, LOCAL};
        let regimes = Regimes::new(ClockRegimes::default()).unwrap();
        let due = |kind: Kind, from: time::OffsetDateTime| {
            let period = Period::parse(regimes.period(kind, "", "620802001001")).unwrap();
            (ends_at(from, period, &regimes.timing().calendar) - time::Duration::microseconds(1))
                .to_offset(LOCAL)
                .date()
        };
        // Applied on 30 September: the third day, 3 October, is a holiday; the
        // court accepts by the first working day after the break.
        let applied = time::macros::datetime!(2026-09-30 10:00 +8);
        assert_eq!(due(Kind::ConfirmationAcceptance, applied), time::macros::date!(2026 - 10 - 08));
        // Accepted on 18 September: the fifteenth day, 3 October, is a holiday too.
        let accepted = time::macros::datetime!(2026-09-18 16:00 +8);
        assert_eq!(due(Kind::ConfirmationDecision, accepted), time::macros::date!(2026 - 10 - 08));
        // Accepted on 8 October: 15 days end on 23 October, a Friday.
        let accepted = time::macros::datetime!(2026-10-08 09:00 +8);
        assert_eq!(due(Kind::ConfirmationDecision, accepted), time::macros::date!(2026 - 10 - 23));
    }

    #[test]
    fn a_jurisdiction_overrides_a_period_by_its_longest_prefix() {
        let mut raw = ClockRegimes::default();
        raw.jurisdictions.insert("62".into(), [("peoples_mediation".to_string(), "days:20".to_string())].into());
        raw.jurisdictions.insert("620802".into(), [("peoples_mediation".to_string(), "days:10".to_string())].into());
        let regimes = Regimes::new(raw).unwrap();
        assert_eq!(regimes.period(Kind::PeoplesMediation, "", "620802001001"), "days:10");
        assert_eq!(regimes.period(Kind::PeoplesMediation, "", "620821001001"), "days:20");
        assert_eq!(regimes.period(Kind::PeoplesMediation, "", "110101001001"), "months:1");
        assert_eq!(regimes.period(Kind::RiskResponse, "RED", "620802001001"), "same_day");
    }

    #[test]
    fn a_bad_period_or_unknown_clock_names_its_key() {
        let mut raw = ClockRegimes::default();
        raw.jurisdictions.insert("620802".into(), [("mediation".to_string(), "days:10".to_string())].into());
        assert!(Regimes::new(raw).unwrap_err().contains("clocks.jurisdictions.620802.mediation"));
        let raw = ClockRegimes { petition_handling: "60 days".into(), ..Default::default() };
        assert!(Regimes::new(raw).unwrap_err().contains("clocks.petition_handling"));
    }

    #[test]
    fn a_calendar_file_adds_to_the_national_calendar() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("local.csv");
        std::fs::write(&file, "date,kind,name\n2026-11-23,holiday,local festival\n").unwrap();
        let raw = ClockRegimes { calendar_files: vec![file.display().to_string()], ..Default::default() };
        let regimes = Regimes::new(raw).unwrap();
        let day = time::macros::date!(2026 - 11 - 23);
        assert!(regimes.timing().calendar.is_rest_day(day));
        assert!(!Calendar::national().is_rest_day(day));
    }
}

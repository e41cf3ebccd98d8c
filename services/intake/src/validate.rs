//! What intake accepts. Issue #5 widens this to the full case model; every
//! rule here names the field and says what is allowed, never echoing a value.

use fengqiao_platform::status::Violation;
use fengqiao_proto::fengqiao::common::v1::{Category, Dispute, PartyRole, Source};

/// The longest external reference accepted.
pub const MAX_EXTERNAL_REF: usize = 64;

/// Checks a registration; an empty list means it is acceptable.
pub fn registration(source_agency: &str, dispute: Option<&Dispute>) -> Vec<Violation> {
    let mut v = Vec::new();
    if source_agency.trim().is_empty() {
        v.push(Violation::new(
            "source_agency",
            "is required: the sending agency's id",
        ));
    }
    let Some(d) = dispute else {
        v.push(Violation::new("dispute", "is required"));
        return v;
    };
    if Source::try_from(d.source).unwrap_or(Source::Unspecified) == Source::Unspecified {
        v.push(Violation::new(
            "dispute.source",
            "is required: one of the Source values other than SOURCE_UNSPECIFIED",
        ));
    }
    let r = d.external_ref.trim();
    if r.is_empty() || r.chars().count() > MAX_EXTERNAL_REF || r.chars().any(char::is_control) {
        v.push(Violation::new(
            "dispute.external_ref",
            format!("is required: your own number for the matter, 1 to {MAX_EXTERNAL_REF} characters without control characters"),
        ));
    }
    if Category::try_from(d.category).unwrap_or(Category::Unspecified) == Category::Unspecified {
        v.push(Violation::new(
            "dispute.category",
            "is required: one of the Category values other than CATEGORY_UNSPECIFIED",
        ));
    }
    let code = d
        .location
        .as_ref()
        .map(|l| l.division_code.as_str())
        .unwrap_or("");
    if fengqiao_domain::case_no::county_of(code).is_none() {
        v.push(Violation::new(
            "dispute.location.division_code",
            "must be a division code of 6, 9 or 12 digits (National Bureau of Statistics)",
        ));
    }
    let has_applicant = d
        .parties
        .iter()
        .any(|p| p.role == PartyRole::Applicant as i32);
    if !has_applicant {
        v.push(Violation::new(
            "dispute.parties",
            "must include at least one party with role PARTY_ROLE_APPLICANT",
        ));
    }
    for (i, p) in d.parties.iter().enumerate() {
        if PartyRole::try_from(p.role).unwrap_or(PartyRole::Unspecified) == PartyRole::Unspecified {
            v.push(Violation::new(
                format!("dispute.parties[{i}].role"),
                "is required",
            ));
        }
        if p.name.trim().is_empty() {
            v.push(Violation::new(
                format!("dispute.parties[{i}].name"),
                "is required",
            ));
        }
    }
    if d.amount_fen < 0 {
        v.push(Violation::new("dispute.amount_fen", "must not be negative"));
    }
    v
}

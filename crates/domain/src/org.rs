//! Kinds of mediation organisation (DESIGN.md §3.5), as the directory and
//! parties' consents name them.

/// Every kind of organisation a case can be referred to.
pub const KINDS: [&str; 8] = [
    "VILLAGE_COMMITTEE",
    "TOWNSHIP_COMMITTEE",
    "COUNTY_CENTRE",
    "INDUSTRY_COMMITTEE",
    "POLICE_MEDIATION_OFFICE",
    "COURT_MEDIATION_OFFICE",
    "PETITION_COMMITTEE",
    "MEDIATOR_STUDIO",
];

/// The purpose under which referral shares a party's data.
pub const MEDIATION_PURPOSE: &str = "mediation";

/// The kinds of organisation some party refused to share their data with for mediation.
pub fn refused_kinds(dispute: &fengqiao_proto::fengqiao::common::v1::Dispute) -> Vec<String> {
    let mut kinds: Vec<String> = dispute
        .parties
        .iter()
        .flat_map(|p| &p.consents)
        .filter(|c| !c.granted && (c.purpose.is_empty() || c.purpose == MEDIATION_PURPOSE))
        .map(|c| c.recipient_kind.clone())
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

//! The routing decision: a party's eligible choice first, then the rules in
//! order; the explanation records which rule decided and why each earlier one
//! did not.

use crate::directory::{level_name, Org};
use crate::rules::{CaseFacts, Route, RuleSet, GEOGRAPHIC_KINDS};

/// What routing decided and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The chosen organisation, if any.
    pub org: Option<Org>,
    /// Why, in words a clerk can read.
    pub explanation: String,
}

/// What the decision needs besides the directory.
pub struct Ask<'a> {
    /// Facts the rules match.
    pub facts: &'a CaseFacts,
    /// The agency that sent the case.
    pub source_agency: &'a str,
    /// Kinds a party refused.
    pub refused_kinds: &'a [String],
    /// The applicant's choice of organisation, or empty.
    pub preferred_org_id: &'a str,
}

fn allowed<'a>(orgs: &'a [Org], refused: &'a [String]) -> impl Iterator<Item = &'a Org> {
    orgs.iter().filter(move |o| !refused.contains(&o.kind))
}

/// The least loaded of the lowest-level candidates, preferring ones with room.
fn least_loaded<'a>(candidates: impl Iterator<Item = &'a Org>) -> Option<&'a Org> {
    candidates.min_by(|a, b| {
        let load = |o: &Org| o.open as f64 / o.capacity.max(1) as f64;
        (a.full(), a.level, load(a)).partial_cmp(&(b.full(), b.level, load(b))).expect("loads are finite")
    })
}

fn fits(route: &Route, org: &Org, ask: &Ask<'_>) -> bool {
    let kind_ok = match &route.kind {
        Some(kind) => &org.kind == kind,
        None => GEOGRAPHIC_KINDS.contains(&org.kind.as_str()),
    };
    kind_ok
        && route.min_level.is_none_or(|min| org.level >= min)
        && (!route.sending_agency || org.agency_id == ask.source_agency)
        && (!route.same_category || org.takes(&ask.facts.category))
}

fn describe(org: &Org) -> String {
    let room = if org.full() { ", over capacity: every candidate is full" } else { "" };
    format!("{} ({} level, {}/{} open{room})", org.name, level_name(org.level), org.open, org.capacity)
}

/// Decides where a new case goes among the organisations `covering` its place.
pub fn decide(rules: &RuleSet, covering: &[Org], ask: &Ask<'_>) -> Decision {
    let mut notes = Vec::new();
    if !ask.refused_kinds.is_empty() {
        notes.push(format!("skipping {}: a party refused to share their data with them", ask.refused_kinds.join(", ")));
    }
    if !ask.preferred_org_id.is_empty() {
        match covering.iter().find(|o| o.org_id == ask.preferred_org_id) {
            Some(o) if ask.refused_kinds.contains(&o.kind) => {
                notes.push(format!("the applicant's choice {} is of a kind a party refused", o.org_id))
            }
            Some(o) if o.full() => notes.push(format!("the applicant's choice {} has no room", o.org_id)),
            Some(o) => {
                notes.insert(0, format!("the applicant's choice, honoured: {}", describe(o)));
                return Decision { org: Some(o.clone()), explanation: notes.join("; ") };
            }
            None => notes.push(format!("the applicant's choice {} does not cover this place", ask.preferred_org_id)),
        }
    }
    for rule in &rules.rules {
        if let Err(why_not) = rule.when.check(ask.facts) {
            notes.push(format!("rule {}: not applied ({why_not})", rule.name));
            continue;
        }
        match least_loaded(allowed(covering, ask.refused_kinds).filter(|o| fits(&rule.route, o, ask))) {
            Some(org) => {
                notes.insert(0, format!("rule {}: {}: {}", rule.name, rule.why, describe(org)));
                return Decision { org: Some(org.clone()), explanation: notes.join("; ") };
            }
            None => notes.push(format!("rule {}: applies, but no organisation it names covers this place", rule.name)),
        }
    }
    notes.insert(0, "no rule found an organisation for this place".into());
    Decision { org: None, explanation: notes.join("; ") }
}

/// The next level up the village → township → county chain above `level`.
pub fn next_level_up<'a>(covering: &'a [Org], level: i32, refused: &'a [String]) -> Option<&'a Org> {
    let higher: Vec<&Org> =
        allowed(covering, refused).filter(|o| GEOGRAPHIC_KINDS.contains(&o.kind.as_str()) && o.level > level).collect();
    let lowest = higher.iter().map(|o| o.level).min()?;
    least_loaded(higher.into_iter().filter(|o| o.level == lowest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{parse, DEFAULT_RULES};
    use fengqiao_proto::fengqiao::common::v1::{Category, RiskLevel, Source};

    fn org(id: &str, kind: &str, level: i32, open: i64, capacity: i64) -> Org {
        Org {
            org_id: id.into(),
            name: id.into(),
            kind: kind.into(),
            level,
            capacity,
            categories: if kind == "INDUSTRY_COMMITTEE" { "TRAFFIC_ACCIDENT".into() } else { String::new() },
            agency_id: match kind {
                "COURT_MEDIATION_OFFICE" => "court-1".into(),
                "POLICE_MEDIATION_OFFICE" => "police-1".into(),
                "PETITION_COMMITTEE" => "petition-1".into(),
                _ => String::new(),
            },
            open,
            division_code: "620802".into(),
        }
    }

    fn directory() -> Vec<Org> {
        vec![
            org("village-a", "VILLAGE_COMMITTEE", 1, 0, 30),
            org("township", "TOWNSHIP_COMMITTEE", 2, 0, 100),
            org("township-2", "TOWNSHIP_COMMITTEE", 2, 40, 100),
            org("police-office", "POLICE_MEDIATION_OFFICE", 2, 0, 60),
            org("centre", "COUNTY_CENTRE", 3, 0, 500),
            org("traffic", "INDUSTRY_COMMITTEE", 3, 0, 200),
            org("court-office", "COURT_MEDIATION_OFFICE", 3, 0, 300),
            org("petition-committee", "PETITION_COMMITTEE", 3, 0, 200),
        ]
    }

    fn route(
        source: Source,
        category: Category,
        risk: RiskLevel,
        headcount: u32,
        agency: &str,
        refused: &[String],
        preferred: &str,
    ) -> Decision {
        let rules = parse(DEFAULT_RULES).unwrap();
        let facts = CaseFacts::new(source as i32, category as i32, risk as i32, headcount);
        let ask = Ask { facts: &facts, source_agency: agency, refused_kinds: refused, preferred_org_id: preferred };
        decide(&rules, &directory(), &ask)
    }

    fn chosen(d: &Decision) -> &str {
        d.org.as_ref().map(|o| o.org_id.as_str()).unwrap_or("none")
    }

    #[test]
    fn each_default_rule_decides_with_its_explanation() {
        use Category::*;
        let table: &[(Source, Category, RiskLevel, u32, &str, &str, &str)] = &[
            (Source::Grid, Neighbourhood, RiskLevel::Red, 2, "", "centre", "rule red-to-county-centre"),
            (
                Source::CourtPreLitigation,
                Neighbourhood,
                RiskLevel::Blue,
                2,
                "court-1",
                "court-office",
                "rule court-to-court-office",
            ),
            (
                Source::Petition,
                Neighbourhood,
                RiskLevel::Blue,
                2,
                "petition-1",
                "petition-committee",
                "rule petition-to-petition-committee",
            ),
            (
                Source::Police,
                Neighbourhood,
                RiskLevel::Blue,
                2,
                "police-1",
                "police-office",
                "rule police-to-station-office",
            ),
            (Source::WalkIn, TrafficAccident, RiskLevel::Blue, 2, "", "traffic", "rule category-to-industry-committee"),
            (
                Source::WalkIn,
                Neighbourhood,
                RiskLevel::Orange,
                9,
                "",
                "township",
                "rule group-dispute-at-least-township",
            ),
            (Source::WalkIn, Neighbourhood, RiskLevel::Blue, 2, "", "village-a", "rule lowest-level-covering"),
        ];
        for (source, category, risk, headcount, agency, expected, why) in table {
            let d = route(*source, *category, *risk, *headcount, agency, &[], "");
            assert_eq!(chosen(&d), *expected, "{d:?}");
            assert!(d.explanation.starts_with(why), "{}", d.explanation);
        }
    }

    #[test]
    fn the_explanation_says_why_earlier_rules_did_not_decide() {
        // A police station without an office of its own falls through to the place.
        let d = route(Source::Police, Category::Neighbourhood, RiskLevel::Blue, 2, "police-2", &[], "");
        assert_eq!(chosen(&d), "village-a");
        assert!(
            d.explanation.contains("rule red-to-county-centre: not applied (risk is BLUE, not RED)"),
            "{}",
            d.explanation
        );
        assert!(
            d.explanation.contains("rule police-to-station-office: applies, but no organisation"),
            "{}",
            d.explanation
        );
    }

    #[test]
    fn a_partys_choice_is_honoured_when_eligible_and_explained_when_not() {
        let d = route(Source::WalkIn, Category::Neighbourhood, RiskLevel::Blue, 2, "", &[], "township");
        assert_eq!(chosen(&d), "township");
        assert!(d.explanation.starts_with("the applicant's choice, honoured"));
        let d = route(Source::WalkIn, Category::Neighbourhood, RiskLevel::Blue, 2, "", &[], "elsewhere");
        assert_eq!(chosen(&d), "village-a");
        assert!(d.explanation.contains("does not cover this place"));
        let refused = vec!["TOWNSHIP_COMMITTEE".to_string()];
        let d = route(Source::WalkIn, Category::Neighbourhood, RiskLevel::Blue, 2, "", &refused, "township");
        assert!(d.explanation.contains("a party refused"));
    }

    #[test]
    fn load_is_spread_and_full_organisations_come_last() {
        let mut orgs = directory();
        orgs[0].open = 30; // the village committee is full
        let rules = parse(DEFAULT_RULES).unwrap();
        let facts = CaseFacts::new(Source::WalkIn as i32, Category::Neighbourhood as i32, RiskLevel::Blue as i32, 2);
        let ask = Ask { facts: &facts, source_agency: "", refused_kinds: &[], preferred_org_id: "" };
        let d = decide(&rules, &orgs, &ask);
        assert_eq!(chosen(&d), "township", "the less loaded township, not the full village: {}", d.explanation);
    }

    #[test]
    fn escalation_climbs_the_chain_only() {
        let orgs = directory();
        assert_eq!(next_level_up(&orgs, 1, &[]).map(|o| o.org_id.as_str()), Some("township"));
        assert_eq!(next_level_up(&orgs, 2, &[]).map(|o| o.org_id.as_str()), Some("centre"));
        assert_eq!(next_level_up(&orgs, 3, &[]), None);
    }
}

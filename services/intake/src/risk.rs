//! The four-colour risk level (四色预警) set at intake by configurable rules,
//! with the explanation of every rule that matched.

use fengqiao_platform::config::IntakeRules;
use fengqiao_proto::fengqiao::common::v1::{Category, Dispute, RiskLevel};
use fengqiao_proto::fengqiao::intake::v1::LinkKind;

/// The level and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// The highest level any rule gave.
    pub level: RiskLevel,
    /// Every rule that matched, highest first; `routine` when none did.
    pub explanation: String,
}

/// Assesses a dispute, given the kinds of links found to earlier cases.
pub fn assess(dispute: &Dispute, links: &[LinkKind], rules: &IntakeRules) -> Assessment {
    let mut found: Vec<(RiskLevel, String)> = Vec::new();
    let words: Vec<&str> = rules
        .red_keywords
        .iter()
        .filter(|w| !w.is_empty() && dispute.narrative.contains(w.as_str()))
        .map(String::as_str)
        .collect();
    if !words.is_empty() {
        found.push((RiskLevel::Red, format!("RED: the narrative mentions 「{}」", words.join("」「"))));
    }
    if dispute.headcount >= rules.group_headcount {
        found.push((
            RiskLevel::Orange,
            format!("ORANGE: group dispute of {} people (≥ {})", dispute.headcount, rules.group_headcount),
        ));
    }
    let repeats = links.iter().filter(|k| **k == LinkKind::RepeatPetition).count();
    if repeats > 0 {
        found.push((RiskLevel::Orange, format!("ORANGE: repeat petition ({repeats} earlier on the same matter)")));
    }
    if dispute.amount_fen >= rules.large_amount_fen {
        found.push((
            RiskLevel::Yellow,
            format!("YELLOW: amount {} yuan ≥ {} yuan", dispute.amount_fen / 100, rules.large_amount_fen / 100),
        ));
    }
    let category = Category::try_from(dispute.category).unwrap_or(Category::Unspecified);
    let category_name = category.as_str_name().trim_start_matches("CATEGORY_");
    if rules.heightened_categories.iter().any(|c| c == category_name) {
        found.push((RiskLevel::Yellow, format!("YELLOW: {category_name} disputes are heightened by rule")));
    }
    let reflows = links.iter().filter(|k| **k == LinkKind::Reflow).count();
    if reflows > 0 {
        found.push((RiskLevel::Yellow, format!("YELLOW: came back to the police ({reflows} earlier referral)")));
    }
    found.sort_by_key(|(level, _)| std::cmp::Reverse(*level as i32));
    match found.first() {
        None => Assessment { level: RiskLevel::Blue, explanation: "BLUE: routine; no risk rule matched".into() },
        Some((level, _)) => Assessment {
            level: *level,
            explanation: found.iter().map(|(_, why)| why.as_str()).collect::<Vec<_>>().join("; "),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dispute(narrative: &str, headcount: u32, amount_fen: i64, category: Category) -> Dispute {
        Dispute { narrative: narrative.into(), headcount, amount_fen, category: category as i32, ..Default::default() }
    }

    #[test]
    fn each_rule_gives_its_colour_and_the_highest_wins() {
        let rules = IntakeRules::default();
        let table: &[(Dispute, &[LinkKind], RiskLevel, &str)] = &[
            (dispute("邻居装修噪音", 2, 0, Category::Neighbourhood), &[], RiskLevel::Blue, "routine"),
            (dispute("扬言要同归于尽", 2, 0, Category::Neighbourhood), &[], RiskLevel::Red, "同归于尽"),
            (dispute("准备进京上访", 1, 0, Category::Other), &[], RiskLevel::Red, "进京"),
            (dispute("工资", 12, 0, Category::Other), &[], RiskLevel::Orange, "group dispute of 12"),
            (dispute("", 1, 0, Category::Other), &[LinkKind::RepeatPetition], RiskLevel::Orange, "repeat petition"),
            (dispute("", 1, 150_000_000, Category::Other), &[], RiskLevel::Yellow, "1500000 yuan"),
            (dispute("", 1, 0, Category::Labour), &[], RiskLevel::Yellow, "LABOUR"),
            (dispute("", 1, 0, Category::Other), &[LinkKind::Reflow], RiskLevel::Yellow, "came back"),
            (dispute("威胁报复", 30, 0, Category::Labour), &[], RiskLevel::Red, "group dispute of 30"),
        ];
        for (d, links, level, why) in table {
            let a = assess(d, links, &rules);
            assert_eq!(a.level, *level, "{a:?}");
            assert!(a.explanation.contains(why), "{a:?} should say {why}");
        }
    }

    #[test]
    fn rules_are_configuration() {
        let rules = IntakeRules { group_headcount: 50, red_keywords: vec![], ..IntakeRules::default() };
        assert_eq!(assess(&dispute("同归于尽", 12, 0, Category::Other), &[], &rules).level, RiskLevel::Blue);
    }
}

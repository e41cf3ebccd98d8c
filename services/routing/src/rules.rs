//! Declarative routing rules: ordered, over case attributes, loaded from TOML
//! (the defaults in `rules/default.toml`, or `routing_rules_file`), validated
//! at load and reloadable while running.

use fengqiao_proto::fengqiao::common::v1::{Category, RiskLevel, Source};
use serde::Deserialize;

/// The defaults of DESIGN.md §3.5.
pub const DEFAULT_RULES: &str = include_str!("../rules/default.toml");

/// Kinds that make up the village → township → county chain.
pub const GEOGRAPHIC_KINDS: [&str; 3] = ["VILLAGE_COMMITTEE", "TOWNSHIP_COMMITTEE", "COUNTY_CENTRE"];

/// A set of rules, tried in order.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    /// The rules.
    #[serde(rename = "rule", default)]
    pub rules: Vec<Rule>,
}

/// One rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Unique name, quoted in explanations.
    pub name: String,
    /// When it applies; empty applies always.
    #[serde(default)]
    pub when: When,
    /// Which organisations it sends to.
    pub route: Route,
    /// Why, in words a clerk can read.
    pub why: String,
}

/// Conditions over the case; all given ones must hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    /// Source names without the `SOURCE_` prefix.
    #[serde(default)]
    pub source: Vec<String>,
    /// Category names without the `CATEGORY_` prefix.
    #[serde(default)]
    pub category: Vec<String>,
    /// Risk levels: BLUE, YELLOW, ORANGE, RED.
    #[serde(default)]
    pub risk: Vec<String>,
    /// At least this many people involved.
    pub min_headcount: Option<u32>,
}

/// Which organisations a rule sends to.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Only this kind; none means the village → township → county chain.
    pub kind: Option<String>,
    /// Only this level or above (1 village, 2 township, 3 county).
    pub min_level: Option<i32>,
    /// Only the office serving the agency that sent the case.
    #[serde(default)]
    pub sending_agency: bool,
    /// Only organisations that take the case's category.
    #[serde(default)]
    pub same_category: bool,
}

/// What a rule is matched against.
#[derive(Debug, Clone)]
pub struct CaseFacts {
    /// Source name without prefix.
    pub source: String,
    /// Category name without prefix.
    pub category: String,
    /// Risk level name without prefix.
    pub risk: String,
    /// People involved.
    pub headcount: u32,
}

impl CaseFacts {
    /// The facts of a case from its enum numbers.
    pub fn new(source: i32, category: i32, risk: i32, headcount: u32) -> Self {
        let name = |full: &str, prefix: &str| full.trim_start_matches(prefix).to_string();
        Self {
            source: name(Source::try_from(source).unwrap_or_default().as_str_name(), "SOURCE_"),
            category: name(Category::try_from(category).unwrap_or_default().as_str_name(), "CATEGORY_"),
            risk: name(RiskLevel::try_from(risk).unwrap_or_default().as_str_name(), "RISK_LEVEL_"),
            headcount,
        }
    }
}

impl When {
    /// `Ok` when the case matches; otherwise why not.
    pub fn check(&self, facts: &CaseFacts) -> Result<(), String> {
        let within = |list: &[String], value: &str, what: &str| {
            if list.is_empty() || list.iter().any(|v| v == value) {
                Ok(())
            } else {
                Err(format!("{what} is {value}, not {}", list.join("/")))
            }
        };
        within(&self.source, &facts.source, "source")?;
        within(&self.category, &facts.category, "category")?;
        within(&self.risk, &facts.risk, "risk")?;
        match self.min_headcount {
            Some(min) if facts.headcount < min => Err(format!("{} people, fewer than {min}", facts.headcount)),
            _ => Ok(()),
        }
    }
}

/// Parses and validates rules; the error names the rule and the field.
pub fn parse(text: &str) -> Result<RuleSet, String> {
    let set: RuleSet = toml::from_str(text).map_err(|e| format!("routing rules: {e}"))?;
    if set.rules.is_empty() {
        return Err("routing rules: at least one [[rule]] is required".into());
    }
    let mut names = std::collections::HashSet::new();
    for (i, r) in set.rules.iter().enumerate() {
        let at = format!("routing rule {} (`{}`)", i + 1, r.name);
        if r.name.trim().is_empty() || !names.insert(r.name.clone()) {
            return Err(format!("{at}: name must be present and unique"));
        }
        let known = |values: &[String], prefix: &str, ok: fn(&str) -> bool, field: &str| -> Result<(), String> {
            match values.iter().find(|v| !ok(&format!("{prefix}{v}")) || v.as_str() == "UNSPECIFIED") {
                Some(v) => Err(format!("{at}: when.{field} has unknown value `{v}`")),
                None => Ok(()),
            }
        };
        known(&r.when.source, "SOURCE_", |n| Source::from_str_name(n).is_some(), "source")?;
        known(&r.when.category, "CATEGORY_", |n| Category::from_str_name(n).is_some(), "category")?;
        known(&r.when.risk, "RISK_LEVEL_", |n| RiskLevel::from_str_name(n).is_some(), "risk")?;
        if let Some(kind) = &r.route.kind {
            if !fengqiao_domain::org::KINDS.contains(&kind.as_str()) {
                return Err(format!("{at}: route.kind `{kind}` is none of {}", fengqiao_domain::org::KINDS.join(", ")));
            }
        }
        if r.route.min_level.is_some_and(|l| !(1..=3).contains(&l)) {
            return Err(format!("{at}: route.min_level must be 1, 2 or 3"));
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_rules_load() {
        let set = parse(DEFAULT_RULES).unwrap();
        assert_eq!(set.rules.last().unwrap().name, "lowest-level-covering");
    }

    #[test]
    fn bad_rules_are_refused_naming_the_rule_and_field() {
        let cases = [
            ("", "at least one"),
            (
                "[[rule]]\nname = \"a\"\nroute = {}\nwhy = \"\"\n[[rule]]\nname = \"a\"\nroute = {}\nwhy = \"\"",
                "unique",
            ),
            (
                "[[rule]]\nname = \"a\"\nwhen = { source = [\"FAX\"] }\nroute = {}\nwhy = \"\"",
                "when.source has unknown value `FAX`",
            ),
            ("[[rule]]\nname = \"a\"\nroute = { kind = \"TEMPLE\" }\nwhy = \"\"", "route.kind `TEMPLE`"),
            ("[[rule]]\nname = \"a\"\nroute = { min_level = 4 }\nwhy = \"\"", "min_level"),
            ("[[rule]]\nname = \"a\"\nroute = { lvl = 1 }\nwhy = \"\"", "unknown field"),
        ];
        for (text, expected) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.contains(expected), "{err} should mention {expected}");
        }
    }

    #[test]
    fn conditions_say_why_they_do_not_hold() {
        let facts = CaseFacts::new(Source::Police as i32, Category::Labour as i32, RiskLevel::Blue as i32, 3);
        let when = When { source: vec!["COURT_PRE_LITIGATION".into()], ..When::default() };
        assert_eq!(when.check(&facts).unwrap_err(), "source is POLICE, not COURT_PRE_LITIGATION");
        let when = When { min_headcount: Some(5), ..When::default() };
        assert_eq!(when.check(&facts).unwrap_err(), "3 people, fewer than 5");
        assert!(When { category: vec!["LABOUR".into()], ..When::default() }.check(&facts).is_ok());
    }
}

/// The rules in force, re-read from their file when it changes.
#[derive(Debug)]
pub struct Rules {
    current: std::sync::RwLock<std::sync::Arc<RuleSet>>,
    file: Option<std::path::PathBuf>,
    modified: std::sync::Mutex<Option<std::time::SystemTime>>,
}

fn modified(path: &std::path::Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl Rules {
    /// Loads the rules of `file`, or the defaults; an error names the file and the problem.
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, String> {
        let set = match file {
            None => parse(DEFAULT_RULES)?,
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|e| format!("routing_rules_file {}: {e}", path.display()))?;
                parse(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
        };
        Ok(Self {
            current: std::sync::RwLock::new(std::sync::Arc::new(set)),
            file: file.map(|p| p.to_path_buf()),
            modified: std::sync::Mutex::new(file.and_then(modified)),
        })
    }

    /// The rules in force.
    pub fn current(&self) -> std::sync::Arc<RuleSet> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Re-reads the file if it changed: `Ok(true)` when new rules are in force;
    /// an invalid file leaves the old rules in force and says why.
    pub fn reload_if_changed(&self) -> Result<bool, String> {
        let Some(path) = &self.file else { return Ok(false) };
        let now = modified(path);
        let mut seen = self.modified.lock().unwrap_or_else(|p| p.into_inner());
        if now == *seen {
            return Ok(false);
        }
        *seen = now;
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let set = parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = std::sync::Arc::new(set);
        Ok(true)
    }
}

#[cfg(test)]
mod reload_tests {
    use super::*;

    #[test]
    fn a_changed_file_is_taken_and_a_broken_one_keeps_the_old_rules() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rules.toml");
        std::fs::write(&path, "[[rule]]\nname = \"only\"\nroute = {}\nwhy = \"x\"\n").unwrap();
        let rules = Rules::load(Some(&path)).unwrap();
        assert_eq!(rules.current().rules[0].name, "only");
        assert_eq!(rules.reload_if_changed(), Ok(false));
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&path, "[[rule]]\nname = \"second\"\nroute = {}\nwhy = \"x\"\n").unwrap();
        filetime_bump(&path);
        assert_eq!(rules.reload_if_changed(), Ok(true));
        assert_eq!(rules.current().rules[0].name, "second");
        std::fs::write(&path, "[[rule]]\nname = \"\"\n").unwrap();
        filetime_bump(&path);
        assert!(rules.reload_if_changed().is_err());
        assert_eq!(rules.current().rules[0].name, "second", "the old rules stay in force");
        assert!(Rules::load(Some(&dir.path().join("missing.toml"))).err().unwrap().contains("missing.toml"));
    }

    /// Makes sure the modification time moves even on coarse file systems.
    fn filetime_bump(path: &std::path::Path) {
        let f = std::fs::File::options().write(true).open(path).unwrap();
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(1 + rand_secs());
        f.set_modified(later).unwrap();
    }

    fn rand_secs() -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() as u64 % 7
    }
}

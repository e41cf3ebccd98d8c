//! The agreement document (调解协议书): rendered from its category's template
//! (templates/agreement/, one per category over a common base) and hashed, so
//! a court or a party can check a copy against what was recorded.

use std::sync::LazyLock;

use fengqiao_proto::fengqiao::common::v1::{Category, Party, PartyRole};
use fengqiao_proto::fengqiao::mediation::v1::{AgreementForm, AgreementTerms};
use minijinja::{context, Environment};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The version of the templates; a change of wording bumps it.
const VERSION: u32 = 1;

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        &[$((concat!($name, ".txt"), include_str!(concat!("../templates/agreement/", $name, ".txt")))),*]
    };
}

const TEMPLATES: &[(&str, &str)] = templates!(
    "base",
    "neighbourhood",
    "marriage_family",
    "property_housing",
    "land_boundary",
    "labour",
    "traffic_accident",
    "medical",
    "expropriation",
    "consumer",
    "lending_contract",
    "environmental",
    "intellectual_property",
    "veterans",
    "other",
);

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_keep_trailing_newline(true);
    for (name, source) in TEMPLATES {
        env.add_template(name, source).expect("the agreement templates parse");
    }
    env
});

/// The template of a category: `neighbourhood` for CATEGORY_NEIGHBOURHOOD.
fn template_of(category: Category) -> &'static str {
    let name = category.as_str_name().trim_start_matches("CATEGORY_").to_ascii_lowercase();
    let found = TEMPLATES.iter().filter_map(|(n, _)| n.strip_suffix(".txt")).find(|n| *n == name && *n != "base");
    found.unwrap_or("other")
}

/// What an agreement is rendered from.
pub struct Facts<'a> {
    /// The case number.
    pub case_no: &'a str,
    /// The organisation.
    pub org_id: &'a str,
    /// The category.
    pub category: Category,
    /// The narrative of the dispute.
    pub facts: &'a str,
    /// The parties in full.
    pub parties: &'a [Party],
    /// The terms.
    pub terms: &'a AgreementTerms,
    /// The lead mediator.
    pub mediator: &'a str,
    /// When it was concluded, in microseconds.
    pub concluded_at: i64,
}

#[derive(Serialize)]
struct PartyLine<'a> {
    role: &'static str,
    name: &'a str,
    resident_id: &'a str,
}

#[derive(Serialize)]
struct SignatureLine<'a> {
    name: &'a str,
    date: String,
}

fn local_date(micros: i64) -> String {
    fengqiao_domain::period::local_date(micros).to_string()
}

/// Fen as yuan: `123456` → `1234.56`.
pub fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// Lower-case hex SHA-256 of `text`.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The rendered document: its template id, its text and the text's SHA-256.
pub fn render(f: &Facts) -> Result<(String, String, String), minijinja::Error> {
    let name = template_of(f.category);
    let role = |p: &Party| match PartyRole::try_from(p.role).unwrap_or_default() {
        PartyRole::Applicant => "申请人",
        PartyRole::Respondent => "被申请人",
        PartyRole::ThirdParty => "第三人",
        PartyRole::Unspecified => "当事人",
    };
    let parties: Vec<PartyLine> =
        f.parties.iter().map(|p| PartyLine { role: role(p), name: &p.name, resident_id: &p.resident_id }).collect();
    let signatures: Vec<SignatureLine> = f
        .terms
        .signatures
        .iter()
        .filter_map(|s| {
            let party = f.parties.get(s.party_number.checked_sub(1)? as usize)?;
            let at = s.signed_at.as_ref().map_or(f.concluded_at, fengqiao_platform::db::micros_of);
            Some(SignatureLine { name: &party.name, date: local_date(at) })
        })
        .collect();
    let form = if f.terms.form == AgreementForm::Oral as i32 { "口头" } else { "书面" };
    let text = ENV.get_template(&format!("{name}.txt"))?.render(context! {
        case_no => f.case_no,
        org_id => f.org_id,
        form => form,
        parties => parties,
        facts => f.facts,
        terms => f.terms.terms,
        amount => (f.terms.amount_fen > 0).then(|| yuan(f.terms.amount_fen)),
        deadline => f.terms.performance_deadline,
        signatures => signatures,
        mediator => f.mediator,
        date => local_date(f.concluded_at),
    })?;
    let hash = sha256_hex(&text);
    Ok((format!("agreement/{name}@{VERSION}"), text, hash))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fengqiao_proto::fengqiao::mediation::v1::Signature;

    fn terms() -> AgreementTerms {
        AgreementTerms {
            form: AgreementForm::Written as i32,
            terms: vec!["李四于2026年12月31日前赔偿张三修缮费".into(), "双方互不追究".into()],
            amount_fen: 123_456,
            performance_deadline: "2026-12-31".into(),
            signatures: vec![
                Signature { party_number: 1, signed_at: None },
                Signature { party_number: 2, signed_at: None },
            ],
        }
    }

    fn parties() -> Vec<Party> {
        vec![
            Party { role: PartyRole::Applicant as i32, name: "张三".into(), ..Default::default() },
            Party { role: PartyRole::Respondent as i32, name: "李四".into(), ..Default::default() },
        ]
    }

    #[test]
    fn every_category_has_its_own_template_and_the_hash_is_of_the_text() {
        let (terms, parties) = (terms(), parties());
        for category in (1..=14).map(|c| Category::try_from(c).unwrap()) {
            let facts = Facts {
                case_no: "620802-2026-000001",
                org_id: "village-620802001001",
                category,
                facts: "楼上装修噪音",
                parties: &parties,
                terms: &terms,
                mediator: "mediator-1",
                concluded_at: 1_795_000_000_000_000,
            };
            let (template, text, hash) = render(&facts).unwrap();
            assert_ne!(template, "agreement/base@1");
            assert!(template.ends_with("@1"), "{template}");
            assert_eq!(hash, sha256_hex(&text));
            assert_eq!(hash.len(), 64);
            for expected in ["张三", "李四", "1234.56", "2026-12-31", "1. 李四于", "2. 双方互不追究"] {
                assert!(text.contains(expected), "{category:?} lacks {expected}:\n{text}");
            }
        }
        let neighbours = Facts {
            case_no: "x",
            org_id: "o",
            category: Category::Neighbourhood,
            facts: "",
            parties: &parties,
            terms: &terms,
            mediator: "m",
            concluded_at: 0,
        };
        assert!(render(&neighbours).unwrap().1.contains("邻里纠纷"));
    }

    #[test]
    fn one_changed_character_changes_the_hash() {
        assert_ne!(sha256_hex("赔偿100元"), sha256_hex("赔偿900元"));
        assert_eq!(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
}

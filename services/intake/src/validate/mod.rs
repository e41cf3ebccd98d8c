//! What intake accepts. Every rule names the field and says what is allowed,
//! never echoing the value (it may be personal data).

pub mod phone;
pub mod resident_id;

use fengqiao_platform::status::Violation;
use fengqiao_proto::fengqiao::common::v1::{Category, Dispute, GeoPoint, PartyRole, PointSource, Source};

/// The longest external reference accepted.
pub const MAX_EXTERNAL_REF: usize = 64;
/// The largest amount in dispute accepted, in fen (10 billion yuan).
pub const MAX_AMOUNT_FEN: i64 = 1_000_000_000_000;
/// The largest headcount accepted.
pub const MAX_HEADCOUNT: u32 = 100_000;

fn is_name(name: &str) -> bool {
    let n = name.trim();
    let len = n.chars().count();
    (1..=50).contains(&len)
        && n.chars().all(|c| c.is_alphabetic() || matches!(c, '·' | '•' | ' ' | '-' | '.' | '（' | '）' | '(' | ')'))
}

fn today() -> time::Date {
    time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+8)).date()
}

/// Checks a registration; an empty list means it is acceptable.
pub fn registration(source_agency: &str, dispute: Option<&Dispute>) -> Vec<Violation> {
    let mut v = Vec::new();
    if source_agency.trim().is_empty() {
        v.push(Violation::new("source_agency", "is required: the sending agency's id"));
    }
    let Some(d) = dispute else {
        v.push(Violation::new("dispute", "is required"));
        return v;
    };
    if Source::try_from(d.source).unwrap_or(Source::Unspecified) == Source::Unspecified {
        v.push(Violation::new("dispute.source", "is required: one of the Source values other than SOURCE_UNSPECIFIED"));
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
    let code = d.location.as_ref().map(|l| l.division_code.as_str()).unwrap_or("");
    if fengqiao_domain::case_no::county_of(code).is_none() {
        v.push(Violation::new(
            "dispute.location.division_code",
            "must be a division code of 6, 9 or 12 digits (National Bureau of Statistics)",
        ));
    } else if !fengqiao_regions::divisions().is_known(code) {
        v.push(Violation::new(
            "dispute.location.division_code",
            "is not a division of the National Bureau of Statistics 2023 codes; check the digits or use the township's 9-digit code",
        ));
    }
    if let Some(point) = d.location.as_ref().and_then(|l| l.point.as_ref()) {
        v.extend(point_problems(point));
    }
    let has_applicant = d.parties.iter().any(|p| p.role == PartyRole::Applicant as i32);
    if !has_applicant {
        v.push(Violation::new("dispute.parties", "must include at least one party with role PARTY_ROLE_APPLICANT"));
    }
    v.extend(per_source(d));
    let today = today();
    for (i, p) in d.parties.iter().enumerate() {
        let field = |f: &str| format!("dispute.parties[{i}].{f}");
        if PartyRole::try_from(p.role).unwrap_or(PartyRole::Unspecified) == PartyRole::Unspecified {
            v.push(Violation::new(field("role"), "is required"));
        }
        if !is_name(&p.name) {
            v.push(Violation::new(field("name"), "is required: 1 to 50 letters, with · - . or spaces between them"));
        }
        if !p.resident_id.is_empty() {
            if let Err(problem) = resident_id::check(p.resident_id.trim(), today) {
                v.push(Violation::new(field("resident_id"), problem.description()));
            }
        }
        if !p.phone.is_empty() && !phone::is_valid(&p.phone) {
            v.push(Violation::new(
                field("phone"),
                "must be a mainland mobile (11 digits from 13 to 19) or landline number (area code, 7 or 8 digits, optional extension)",
            ));
        }
        for (j, c) in p.consents.iter().enumerate() {
            if !fengqiao_domain::org::KINDS.contains(&c.recipient_kind.as_str()) {
                v.push(Violation::new(
                    format!("dispute.parties[{i}].consents[{j}].recipient_kind"),
                    format!("must be one of {}", fengqiao_domain::org::KINDS.join(", ")),
                ));
            }
            if c.purpose.trim().is_empty() {
                v.push(Violation::new(
                    format!("dispute.parties[{i}].consents[{j}].purpose"),
                    "is required, e.g. mediation",
                ));
            }
        }
        if p.address.chars().count() > 200 {
            v.push(Violation::new(field("address"), "must be at most 200 characters"));
        }
    }
    if !(0..=MAX_AMOUNT_FEN).contains(&d.amount_fen) {
        v.push(Violation::new("dispute.amount_fen", format!("must be between 0 and {MAX_AMOUNT_FEN} fen")));
    }
    if d.headcount > MAX_HEADCOUNT {
        v.push(Violation::new("dispute.headcount", format!("must be at most {MAX_HEADCOUNT}")));
    }
    if d.simplified_procedure && d.source != Source::CourtInLitigation as i32 {
        v.push(Violation::new("dispute.simplified_procedure", "is set only for SOURCE_COURT_IN_LITIGATION"));
    }
    for (i, a) in d.attachments.iter().enumerate() {
        let field = |f: &str| format!("dispute.attachments[{i}].{f}");
        if a.name.trim().is_empty() || a.name.chars().count() > 255 || a.name.chars().any(char::is_control) {
            v.push(Violation::new(field("name"), "is required: 1 to 255 characters without control characters"));
        }
        let (kind, sub) = a.media_type.split_once('/').unwrap_or(("", ""));
        if kind.is_empty() || sub.is_empty() || a.media_type.contains(char::is_whitespace) {
            v.push(Violation::new(field("media_type"), "must be a media type such as application/pdf"));
        }
        if a.sha256.len() != 64 || !a.sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            v.push(Violation::new(field("sha256"), "must be 64 lower-case hexadecimal characters"));
        }
    }
    if d.attachments.len() > 100 {
        v.push(Violation::new("dispute.attachments", "must hold at most 100 attachments"));
    }
    if d.narrative.chars().count() > 10_000 {
        v.push(Violation::new("dispute.narrative", "must be at most 10000 characters"));
    }
    v
}

/// True for a court case number such as `(2026)甘0802民诉前调123号`.
fn is_court_case_no(text: &str) -> bool {
    let t = text.trim();
    let Some(rest) = t.strip_prefix('(').or_else(|| t.strip_prefix('（')) else { return false };
    let (year, rest) = rest.split_at(rest.char_indices().nth(4).map_or(rest.len(), |(i, _)| i));
    year.len() == 4
        && year.bytes().all(|b| b.is_ascii_digit())
        && (rest.starts_with(')') || rest.starts_with('）'))
        && t.ends_with('号')
        && t.chars().count() >= 10
}

/// What is wrong with a location's point: degrees out of range or not numbers,
/// an accuracy beyond any phone's, or no source.
fn point_problems(point: &GeoPoint) -> Vec<Violation> {
    let mut v = Vec::new();
    let field = |f: &str| format!("dispute.location.point.{f}");
    if !(point.latitude.is_finite() && (-90.0..=90.0).contains(&point.latitude)) {
        v.push(Violation::new(field("latitude"), "must be degrees north between -90 and 90 (WGS 84)"));
    }
    if !(point.longitude.is_finite() && (-180.0..=180.0).contains(&point.longitude)) {
        v.push(Violation::new(field("longitude"), "must be degrees east between -180 and 180 (WGS 84)"));
    }
    if point.accuracy_m > 100_000 {
        v.push(Violation::new(field("accuracy_m"), "must be at most 100000 metres (0 when unknown)"));
    }
    if PointSource::try_from(point.source).unwrap_or(PointSource::Unspecified) == PointSource::Unspecified {
        v.push(Violation::new(field("source"), "is required: DEVICE, PHOTO or ENTERED"));
    }
    v
}

/// What each door must bring besides the common fields.
fn per_source(d: &Dispute) -> Vec<Violation> {
    let mut v = Vec::new();
    match Source::try_from(d.source).unwrap_or(Source::Unspecified) {
        Source::CourtPreLitigation | Source::CourtInLitigation if !is_court_case_no(&d.external_ref) => {
            v.push(Violation::new(
                "dispute.external_ref",
                "must be the court case number, e.g. (2026)甘0802民诉前调123号",
            ));
        }
        Source::Grid => {
            let location = d.location.clone().unwrap_or_default();
            if location.grid_id.trim().is_empty() {
                v.push(Violation::new("dispute.location.grid_id", "is required for a grid worker's report"));
            }
            if location.division_code.len() != 12 {
                v.push(Violation::new(
                    "dispute.location.division_code",
                    "must be the 12-digit village or community code for a grid worker's report",
                ));
            }
        }
        Source::Hotline | Source::Online => {
            let reachable = d.parties.iter().any(|p| p.role == PartyRole::Applicant as i32 && !p.phone.is_empty());
            if !reachable {
                v.push(Violation::new(
                    "dispute.parties",
                    "an applicant's phone is required for hotline and online submissions, to reach them back",
                ));
            }
        }
        _ => {}
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use fengqiao_proto::fengqiao::common::v1::{Location, Party};

    #[test]
    fn each_door_brings_what_it_must() {
        let base = |source: Source, r: &str| Dispute {
            source: source as i32,
            external_ref: r.into(),
            parties: vec![Party { role: PartyRole::Applicant as i32, name: "张三".into(), ..Default::default() }],
            location: Some(Location { division_code: "620802001".into(), ..Default::default() }),
            ..Default::default()
        };
        let fields = |d: &Dispute| per_source(d).into_iter().map(|v| v.field).collect::<Vec<_>>();
        assert!(fields(&base(Source::CourtPreLitigation, "(2026)甘0802民诉前调123号")).is_empty());
        assert!(fields(&base(Source::CourtInLitigation, "（2026）甘0802民初456号")).is_empty());
        assert_eq!(fields(&base(Source::CourtPreLitigation, "CASE-123")), ["dispute.external_ref"]);
        assert_eq!(fields(&base(Source::Grid, "WG-1")), ["dispute.location.grid_id", "dispute.location.division_code"]);
        assert_eq!(fields(&base(Source::Hotline, "12345-1")), ["dispute.parties"]);
        let mut reachable = base(Source::Online, "WEB-1");
        reachable.parties[0].phone = "13812345678".into();
        assert!(fields(&reachable).is_empty());
        assert!(fields(&base(Source::Police, "JQ-1")).is_empty());
        assert!(fields(&base(Source::WalkIn, "CK-1")).is_empty());
    }

    #[test]
    fn a_point_out_of_the_world_or_without_a_source_is_refused_field_by_field() {
        use super::point_problems;
        use fengqiao_proto::fengqiao::common::v1::{GeoPoint, PointSource};
        let pingliang =
            GeoPoint { latitude: 35.5428, longitude: 106.6654, accuracy_m: 12, source: PointSource::Device as i32 };
        assert!(point_problems(&pingliang).is_empty());
        let fields = |p: GeoPoint| point_problems(&p).into_iter().map(|v| v.field).collect::<Vec<_>>();
        assert_eq!(
            fields(GeoPoint { latitude: 91.0, longitude: f64::NAN, ..pingliang }),
            ["dispute.location.point.latitude", "dispute.location.point.longitude"]
        );
        assert_eq!(
            fields(GeoPoint { accuracy_m: 200_000, source: 0, ..pingliang }),
            ["dispute.location.point.accuracy_m", "dispute.location.point.source"]
        );
    }

    #[test]
    fn names_of_people_and_organisations_pass_and_noise_fails() {
        use super::is_name;
        for n in
            ["张三", "买买提·艾力", "Anna-Lena O'Neil".replace('\'', "").as_str(), "平凉市某某有限公司", "李（小）明"]
        {
            assert!(is_name(n), "{n}");
        }
        for n in ["", "   ", "张三1", "<script>", &"长".repeat(51), "a\u{0}b"] {
            assert!(!is_name(n), "{n}");
        }
    }
}

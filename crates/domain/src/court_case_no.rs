//! Court case numbers (案号) as courts write them (最高人民法院《关于人民法院案件案号的若干规定》):
//! `(2026)甘0802民诉前调123号` — the year in brackets (ASCII or full-width), the
//! province's one-character abbreviation, the court's code (none for a high
//! court, 2 digits for an intermediate court, 4 for a basic court), the type of
//! case, the sequence number and `号`.

/// The types of civil case fengqiao meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseType {
    /// 民诉前调: pre-litigation mediation delegated by the court.
    PreLitigationMediation,
    /// 民初: a first-instance civil case (ordinary or simplified procedure).
    FirstInstance,
    /// 民终: a second-instance civil case.
    SecondInstance,
    /// 民特: a special-procedure case, e.g. judicial confirmation of a mediation agreement.
    SpecialProcedure,
}

impl CaseType {
    const ALL: [(CaseType, &'static str); 4] = [
        (CaseType::PreLitigationMediation, "民诉前调"),
        (CaseType::FirstInstance, "民初"),
        (CaseType::SecondInstance, "民终"),
        (CaseType::SpecialProcedure, "民特"),
    ];

    /// The characters that mark it in a case number.
    pub fn mark(self) -> &'static str {
        Self::ALL.iter().find(|(t, _)| *t == self).map(|(_, m)| *m).expect("every type has a mark")
    }
}

/// A parsed court case number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourtCaseNo {
    /// The year the case was filed.
    pub year: u16,
    /// The province's abbreviation, e.g. `甘`.
    pub province: char,
    /// The court's code after the abbreviation, e.g. `0802` (empty for a high court).
    pub court_code: String,
    /// The type of case.
    pub case_type: CaseType,
    /// The sequence number within the year.
    pub seq: u32,
}

const PROVINCES: &str = "京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川贵云藏陕甘青宁新兵";

const FORM: &str = "write it as the court does, e.g. (2026)甘0802民诉前调123号 or (2026)甘0802民初456号";

/// Reads a court case number; `Err` says what is wrong and how it is written.
pub fn parse(text: &str) -> Result<CourtCaseNo, String> {
    let err = |what: &str| format!("`{text}` is no court case number: {what}; {FORM}");
    let rest = text
        .strip_prefix('(')
        .or_else(|| text.strip_prefix('（'))
        .ok_or_else(|| err("it starts with the year in brackets"))?;
    let (year, rest) = rest
        .split_once(')')
        .or_else(|| rest.split_once('）'))
        .ok_or_else(|| err("the year's bracket is not closed"))?;
    let year: u16 = year
        .parse()
        .ok()
        .filter(|y| (2000..=2100).contains(y) && year.len() == 4)
        .ok_or_else(|| err("the year is four digits"))?;
    let mut chars = rest.chars();
    let province = chars.next().filter(|c| PROVINCES.contains(*c)).ok_or_else(|| err("no province abbreviation"))?;
    let rest = chars.as_str();
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if ![0, 2, 4].contains(&digits) {
        return Err(err("the court's code is 2 or 4 digits"));
    }
    let (court_code, rest) = rest.split_at(digits);
    let (case_type, rest) = CaseType::ALL
        .iter()
        .find_map(|(t, mark)| rest.strip_prefix(mark).map(|r| (*t, r)))
        .ok_or_else(|| err("the type of case is 民诉前调, 民初, 民终 or 民特"))?;
    let seq = rest.strip_suffix('号').ok_or_else(|| err("it ends with 号"))?;
    let seq: u32 = seq
        .parse()
        .ok()
        .filter(|n| *n > 0 && !seq.starts_with('+'))
        .ok_or_else(|| err("the sequence number is digits"))?;
    Ok(CourtCaseNo { year, province, court_code: court_code.to_string(), case_type, seq })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_formats_are_read() {
        let table = [
            ("(2026)甘0802民诉前调123号", CaseType::PreLitigationMediation, "0802", 123),
            ("（2026）甘0802民初456号", CaseType::FirstInstance, "0802", 456),
            ("(2025)甘08民终7号", CaseType::SecondInstance, "08", 7),
            ("(2026)甘0802民特12号", CaseType::SpecialProcedure, "0802", 12),
            ("(2026)京民终1号", CaseType::SecondInstance, "", 1),
        ];
        for (text, case_type, court, seq) in table {
            let n = parse(text).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!((n.case_type, n.court_code.as_str(), n.seq), (case_type, court, seq), "{text}");
        }
        assert_eq!(parse("(2026)甘0802民初456号").unwrap().province, '甘');
    }

    #[test]
    fn malformed_numbers_say_what_is_wrong() {
        let table = [
            ("2026甘0802民初456号", "brackets"),
            ("(26)甘0802民初456号", "four digits"),
            ("(2026)X0802民初456号", "province"),
            ("(2026)甘082民初456号", "2 or 4 digits"),
            ("(2026)甘0802刑初456号", "type of case"),
            ("(2026)甘0802民初456", "号"),
            ("(2026)甘0802民初号", "sequence"),
            ("(2026)甘0802民初-4号", "sequence"),
            ("", "brackets"),
        ];
        for (text, says) in table {
            let e = parse(text).unwrap_err();
            assert!(e.contains(says) && e.contains("(2026)甘0802民初456号"), "{text}: {e}");
        }
    }
}

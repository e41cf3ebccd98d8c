//! The case number people use: `<county code>-<year>-<6-digit sequence>`,
//! e.g. `620802-2026-000123`.

/// Formats a case number.
pub fn format(county_code: &str, year: i32, seq: i64) -> String {
    format!("{county_code}-{year}-{seq:06}")
}

/// The county (6-digit) part of a division code of 6, 9 or 12 digits.
pub fn county_of(division_code: &str) -> Option<&str> {
    let ok = matches!(division_code.len(), 6 | 9 | 12) && division_code.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| &division_code[..6])
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_case_number_pads_its_sequence_to_six_digits() {
        assert_eq!(super::format("620802", 2026, 123), "620802-2026-000123");
        assert_eq!(super::format("620802", 2026, 1_234_567), "620802-2026-1234567");
    }

    #[test]
    fn the_county_is_the_first_six_digits_of_a_valid_code() {
        assert_eq!(super::county_of("620802"), Some("620802"));
        assert_eq!(super::county_of("620802001"), Some("620802"));
        assert_eq!(super::county_of("620802001001"), Some("620802"));
        assert_eq!(super::county_of("62080"), None);
        assert_eq!(super::county_of("62080200100x"), None);
    }
}

//! Mainland resident identity numbers (GB 11643-1999): 17 digits — 6 of the
//! registering region, 8 of the birth date, 3 of sequence — and a check
//! character by ISO 7064 MOD 11-2 (`0`–`9` or `X`).

use time::{Date, Month};

/// Why an identity number is not valid. Never carries the number itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdProblem {
    /// Not 18 characters of 17 digits and a digit or X.
    Shape,
    /// The check character does not match.
    CheckDigit,
    /// The birth date is not a real date, is before 1900, or is in the future.
    BirthDate,
    /// The first two digits name no province.
    Region,
}

impl IdProblem {
    /// What to tell the caller.
    pub fn description(self) -> &'static str {
        match self {
            IdProblem::Shape => "must be 18 characters: 17 digits and a final digit or X",
            IdProblem::CheckDigit => {
                "has a wrong check character (GB 11643, ISO 7064 MOD 11-2); check for a typing error"
            }
            IdProblem::BirthDate => "holds no real birth date between 1900 and today (characters 7 to 14)",
            IdProblem::Region => "starts with no known province code (characters 1 and 2)",
        }
    }
}

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK: &[u8; 11] = b"10X98765432";

/// The check character of the first 17 digits.
pub fn check_char(first17: &[u8]) -> u8 {
    let sum: u32 = first17.iter().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    CHECK[(sum % 11) as usize]
}

/// Checks `id` (a lower-case `x` is accepted as `X`) against `today`.
pub fn check(id: &str, today: Date) -> Result<(), IdProblem> {
    let b = id.as_bytes();
    if b.len() != 18
        || !b[..17].iter().all(u8::is_ascii_digit)
        || !(b[17].is_ascii_digit() || b[17] == b'X' || b[17] == b'x')
    {
        return Err(IdProblem::Shape);
    }
    if check_char(&b[..17]) != b[17].to_ascii_uppercase() {
        return Err(IdProblem::CheckDigit);
    }
    let num = |r: std::ops::Range<usize>| id[r].parse::<u32>().unwrap_or(0);
    let month = Month::try_from(num(10..12) as u8).map_err(|_| IdProblem::BirthDate)?;
    let birth =
        Date::from_calendar_date(num(6..10) as i32, month, num(12..14) as u8).map_err(|_| IdProblem::BirthDate)?;
    if birth.year() < 1900 || birth > today {
        return Err(IdProblem::BirthDate);
    }
    // Only the province is held to the 2023 codes: counties merge and are
    // renamed, and a number issued decades ago keeps its old county.
    if !fengqiao_regions::divisions().is_known(&id[..2]) {
        return Err(IdProblem::Region);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    const TODAY: Date = date!(2026 - 11 - 23);

    /// Builds a valid number from 17 digits.
    fn with_check(first17: &str) -> String {
        format!("{first17}{}", check_char(first17.as_bytes()) as char)
    }

    #[test]
    fn valid_numbers_pass() {
        // The standard's own example, and numbers built with their check character.
        for id in [
            "11010519491231002X",
            "11010519491231002x",
            &with_check("62080219800101123"),
            &with_check("44030420000229001"),
        ] {
            assert_eq!(check(id, TODAY), Ok(()), "{id}");
        }
    }

    #[test]
    fn each_kind_of_error_is_named() {
        let cases: &[(&str, IdProblem)] = &[
            ("", IdProblem::Shape),
            ("1101051949123100", IdProblem::Shape),
            ("11010519491231002XX", IdProblem::Shape),
            ("11010519491231002Y", IdProblem::Shape),
            ("1101051949123a002X", IdProblem::Shape),
            ("110105194912310021", IdProblem::CheckDigit),
            ("110105194912310029", IdProblem::CheckDigit),
        ];
        for (id, problem) in cases {
            assert_eq!(check(id, TODAY), Err(*problem), "{id}");
        }
        for (first17, problem) in [
            ("62080219800231123", IdProblem::BirthDate), // 31 February
            ("62080220230229123", IdProblem::BirthDate), // 2023 is not a leap year
            ("62080218991231123", IdProblem::BirthDate), // before 1900
            ("62080220261124123", IdProblem::BirthDate), // tomorrow
            ("62080219801301123", IdProblem::BirthDate), // month 13
            ("99080219800101123", IdProblem::Region),    // no province 99
            ("00080219800101123", IdProblem::Region),
        ] {
            assert_eq!(check(&with_check(first17), TODAY), Err(problem), "{first17}");
        }
    }
}

//! A reporting period — a month or a quarter in local time — as the county's
//! figures, subsidy statements and statistics count them.

use time::{Date, Month, PrimitiveDateTime, Time};

use crate::period::LOCAL;

/// A reporting period: `[start, end)` in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportPeriod {
    /// Its first instant.
    pub start: i64,
    /// The first instant after it.
    pub end: i64,
}

fn local_midnight(year: i32, month: u8) -> Option<i64> {
    let date = Date::from_calendar_date(year, Month::try_from(month).ok()?, 1).ok()?;
    let t = PrimitiveDateTime::new(date, Time::MIDNIGHT).assume_offset(LOCAL);
    Some((t.unix_timestamp_nanos() / 1_000) as i64)
}

impl ReportPeriod {
    /// Reads `2026-10` (a month) or `2026-Q4` (a quarter), local time.
    pub fn parse(text: &str) -> Result<Self, String> {
        let err = || format!("`{text}` is no period; write a month as 2026-10 or a quarter as 2026-Q4");
        let (year, rest) = text.split_once('-').ok_or_else(err)?;
        let year: i32 = year.parse().ok().filter(|y| (2000..=2100).contains(y)).ok_or_else(err)?;
        let (first, months) = match rest.strip_prefix('Q') {
            Some(q) => {
                let q: u8 = q.parse().ok().filter(|q| (1..=4).contains(q)).ok_or_else(err)?;
                (3 * (q - 1) + 1, 3)
            }
            None if rest.len() == 2 => (rest.parse().ok().filter(|m| (1..=12).contains(m)).ok_or_else(err)?, 1),
            None => return Err(err()),
        };
        let next = first + months;
        let (end_year, end_month) = if next > 12 { (year + 1, next - 12) } else { (year, next) };
        Ok(Self {
            start: local_midnight(year, first).ok_or_else(err)?,
            end: local_midnight(end_year, end_month).ok_or_else(err)?,
        })
    }

    /// True when `t` falls within the period.
    pub fn holds(&self, t: Option<i64>) -> bool {
        t.is_some_and(|t| self.start <= t && t < self.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_runs_from_local_midnight_to_the_next_months() {
        let october = ReportPeriod::parse("2026-10").unwrap();
        // 2026-10-01T00:00+08:00 and 2026-11-01T00:00+08:00.
        assert_eq!(october.start, 1_759_248_000_000_000 + 365 * 86_400_000_000);
        assert_eq!(october.end - october.start, 31 * 86_400_000_000);
        assert!(october.holds(Some(october.start)) && !october.holds(Some(october.end)));
    }

    #[test]
    fn a_quarter_crossing_the_year_ends_in_january() {
        let q4 = ReportPeriod::parse("2026-Q4").unwrap();
        assert_eq!(q4.end, ReportPeriod::parse("2027-01").unwrap().start);
    }

    #[test]
    fn nonsense_is_refused_with_the_forms_that_work() {
        for bad in ["2026", "2026-13", "2026-Q5", "26-10", "2026-1"] {
            assert!(ReportPeriod::parse(bad).unwrap_err().contains("2026-Q4"), "{bad}");
        }
    }
}

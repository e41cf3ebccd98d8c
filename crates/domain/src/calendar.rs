//! Holiday calendars: which days are rest days. Data, not code — each year's
//! arrangement is published by the State Council and added as a CSV
//! (`date,kind,name`, kind `holiday` or `workday`), and a jurisdiction may add
//! local days. Every other Saturday and Sunday rests; every other weekday works.

use std::collections::HashSet;

use time::{Date, Weekday};

/// The official national arrangement for 2026 (data/calendars/CN-2026.csv).
pub const CN_2026: &str = include_str!("../../../data/calendars/CN-2026.csv");

/// Rest days and make-up working days.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    holidays: HashSet<Date>,
    workdays: HashSet<Date>,
}

impl Calendar {
    /// Reads `date,kind,name` lines (a header line is skipped); an error names the line.
    pub fn parse(csv: &str) -> Result<Self, String> {
        let mut calendar = Calendar::default();
        calendar.add(csv)?;
        Ok(calendar)
    }

    /// The national calendar fengqiao ships.
    pub fn national() -> Self {
        Self::parse(CN_2026).expect("the shipped calendar is valid")
    }

    /// Adds more days (another year, or local days).
    pub fn add(&mut self, csv: &str) -> Result<(), String> {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        for (i, line) in csv.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with("date,") {
                continue;
            }
            let mut fields = line.split(',');
            let (Some(date), Some(kind)) = (fields.next(), fields.next()) else {
                return Err(format!("calendar line {}: expected date,kind,name", i + 1));
            };
            let date = Date::parse(date.trim(), format)
                .map_err(|_| format!("calendar line {}: `{date}` is not YYYY-MM-DD", i + 1))?;
            match kind.trim() {
                "holiday" => self.holidays.insert(date),
                "workday" => self.workdays.insert(date),
                other => return Err(format!("calendar line {}: kind `{other}` is neither holiday nor workday", i + 1)),
            };
        }
        Ok(())
    }

    /// True for a statutory holiday, or a weekend day that is not a make-up working day.
    pub fn is_rest_day(&self, date: Date) -> bool {
        let weekend = matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday);
        self.holidays.contains(&date) || (weekend && !self.workdays.contains(&date))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn the_2026_calendar_knows_holidays_weekends_and_make_up_days() {
        let c = Calendar::national();
        assert!(c.is_rest_day(date!(2026 - 10 - 01)), "National Day");
        assert!(c.is_rest_day(date!(2026 - 11 - 22)), "an ordinary Sunday");
        assert!(!c.is_rest_day(date!(2026 - 11 - 23)), "an ordinary Monday");
        assert!(!c.is_rest_day(date!(2026 - 10 - 10)), "a Saturday worked for National Day");
        assert!(!c.is_rest_day(date!(2026 - 02 - 28)), "a Saturday worked for the Spring Festival");
        assert!(c.is_rest_day(date!(2026 - 02 - 16)), "Spring Festival");
    }

    #[test]
    fn a_bad_line_is_named() {
        assert!(Calendar::parse("2026-13-01,holiday,x").unwrap_err().contains("line 1"));
        assert!(Calendar::parse("date,kind,name\n2026-05-01,festival,x").unwrap_err().contains("line 2"));
    }
}

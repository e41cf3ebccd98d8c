//! How a legal period is counted (民事诉讼法 art. 85; 民法典 arts. 201–203):
//! the day (or hour) it starts is not counted; a period of days ends at the
//! end of its last day; a period of months ends on the corresponding day of
//! the last month, or that month's last day; a last day that is a rest day
//! moves to the first working day after it; rest days inside are not skipped.
//! Working-day periods skip rest days and count make-up working days. Local
//! time is Asia/Shanghai; instants are UTC.

use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use crate::calendar::Calendar;

/// Asia/Shanghai: UTC+8 all year.
pub const LOCAL: UtcOffset = time::macros::offset!(+8);

/// A period of a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// Before local midnight of the day it starts ("same day").
    SameDay,
    /// Exact seconds from the start: for drills and tests of the timers, not
    /// for legal periods.
    Seconds(u32),
    /// Whole hours, from the end of the starting hour.
    Hours(u32),
    /// Calendar days.
    Days(u32),
    /// Working days.
    WorkingDays(u32),
    /// Calendar months.
    Months(u32),
}

impl Period {
    /// Reads `same_day` or `unit:n` (`seconds`, `hours`, `days`, `working_days`, `months`).
    pub fn parse(text: &str) -> Result<Period, String> {
        if text == "same_day" {
            return Ok(Period::SameDay);
        }
        let err = || format!("`{text}` is no period; write same_day, or hours:N, days:N, working_days:N, months:N");
        let (unit, n) = text.split_once(':').ok_or_else(err)?;
        let n: u32 = n.parse().ok().filter(|n| (1..=3650).contains(n)).ok_or_else(err)?;
        Ok(match unit {
            "seconds" => Period::Seconds(n),
            "hours" => Period::Hours(n),
            "days" => Period::Days(n),
            "working_days" => Period::WorkingDays(n),
            "months" => Period::Months(n),
            _ => return Err(err()),
        })
    }
}

fn start_of(date: Date) -> OffsetDateTime {
    PrimitiveDateTime::new(date, Time::MIDNIGHT).assume_offset(LOCAL).to_offset(UtcOffset::UTC)
}

fn first_working_day_from(mut date: Date, calendar: &Calendar) -> Date {
    while calendar.is_rest_day(date) {
        date = date.next_day().expect("dates far from the end of time");
    }
    date
}

fn add_months(date: Date, months: u32) -> Date {
    let total = date.year() * 12 + (date.month() as i32 - 1) + months as i32;
    let (year, month) =
        (total.div_euclid(12), time::Month::try_from((total.rem_euclid(12) + 1) as u8).expect("1..=12"));
    let last = time::util::days_in_month(month, year);
    Date::from_calendar_date(year, month, date.day().min(last)).expect("a valid day")
}

/// A stored instant (microseconds since the epoch) as a time.
pub fn instant(micros: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).expect("instants in range")
}

/// The local date (Asia/Shanghai) of a stored instant.
pub fn local_date(micros: i64) -> Date {
    instant(micros).to_offset(LOCAL).date()
}

/// The local day on which `period` started at `start` ends (its last day).
pub fn last_day(start: OffsetDateTime, period: Period, calendar: &Calendar) -> Date {
    (ends_at(start, period, calendar) - time::Duration::microseconds(1)).to_offset(LOCAL).date()
}

/// The instant the period is over: the end of its last day (exclusive), or
/// for hours the exact instant. A clock not met before it is breached.
pub fn ends_at(start: OffsetDateTime, period: Period, calendar: &Calendar) -> OffsetDateTime {
    let local = start.to_offset(LOCAL);
    let day = local.date();
    let next = |d: Date| d.next_day().expect("dates far from the end of time");
    let last_day = match period {
        Period::SameDay => day,
        Period::Seconds(n) => return (start + Duration::seconds(i64::from(n))).to_offset(UtcOffset::UTC),
        Period::Hours(n) => {
            let hour_start = local.replace_time(Time::from_hms(local.hour(), 0, 0).expect("valid"));
            return (hour_start + Duration::hours(1 + i64::from(n))).to_offset(UtcOffset::UTC);
        }
        Period::Days(n) => first_working_day_from(day + Duration::days(i64::from(n)), calendar),
        Period::Months(n) => first_working_day_from(add_months(day, n), calendar),
        Period::WorkingDays(n) => {
            let mut d = day;
            let mut counted = 0;
            while counted < n {
                d = next(d);
                if !calendar.is_rest_day(d) {
                    counted += 1;
                }
            }
            d
        }
    };
    start_of(next(last_day))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    /// Local (Asia/Shanghai) date-time to UTC.
    fn local(dt: PrimitiveDateTime) -> OffsetDateTime {
        dt.assume_offset(LOCAL)
    }

    #[test]
    fn a_dated_table_of_periods() {
        let cal = Calendar::national();
        let table = [
            // start (local)                      period                    ends (local, exclusive)            why
            (
                datetime!(2026-11-23 10:00),
                Period::Days(30),
                datetime!(2026-12-24 00:00),
                "the start day does not count",
            ),
            (datetime!(2026-11-23 23:59), Period::Days(1), datetime!(2026-11-25 00:00), "one day: all of the next day"),
            (datetime!(2026-11-25 09:00), Period::Days(3), datetime!(2026-12-01 00:00), "last day Saturday: to Monday"),
            (
                datetime!(2026-09-20 09:00),
                Period::Days(15),
                datetime!(2026-10-09 00:00),
                "last day in the National Day week: to the first working day after",
            ),
            (
                datetime!(2026-04-28 09:00),
                Period::Days(7),
                datetime!(2026-05-07 00:00),
                "last day 5 May, a holiday: to 6 May",
            ),
            (
                datetime!(2026-09-18 09:00),
                Period::Days(15),
                datetime!(2026-10-09 00:00),
                "rest days inside are not skipped; only the last day moves",
            ),
            (
                datetime!(2026-01-31 09:00),
                Period::Months(1),
                datetime!(2026-03-01 00:00),
                "no 31 February: 28 February, a make-up working Saturday",
            ),
            (datetime!(2026-03-31 09:00), Period::Months(1), datetime!(2026-05-01 00:00), "to 30 April"),
            (
                datetime!(2026-08-31 09:00),
                Period::Months(1),
                datetime!(2026-10-01 00:00),
                "to 30 September, a working day",
            ),
            (
                datetime!(2026-09-30 09:00),
                Period::WorkingDays(5),
                datetime!(2026-10-14 00:00),
                "skips the holiday week, counts the make-up Saturday 10 October",
            ),
            (
                datetime!(2026-11-20 15:00),
                Period::WorkingDays(3),
                datetime!(2026-11-26 00:00),
                "Friday + 3 working days: Wednesday",
            ),
            (
                datetime!(2026-11-23 10:30),
                Period::Hours(24),
                datetime!(2026-11-24 11:00),
                "the starting hour does not count",
            ),
            (
                datetime!(2026-11-23 22:00),
                Period::SameDay,
                datetime!(2026-11-24 00:00),
                "same day: before local midnight",
            ),
        ];
        for (start, period, expected, why) in table {
            let got = ends_at(local(start), period, &cal);
            assert_eq!(got, local(expected), "{period:?} from {start}: {why}");
            assert_eq!(got.offset(), UtcOffset::UTC, "instants are UTC");
        }
    }

    #[test]
    fn periods_are_read_from_configuration() {
        assert_eq!(Period::parse("months:1"), Ok(Period::Months(1)));
        assert_eq!(Period::parse("working_days:5"), Ok(Period::WorkingDays(5)));
        assert_eq!(Period::parse("same_day"), Ok(Period::SameDay));
        assert_eq!(Period::parse("seconds:3"), Ok(Period::Seconds(3)));
        let start = time::macros::datetime!(2026-10-01 23:59:58 +08:00);
        let cal = Calendar::national();
        assert_eq!(ends_at(start, Period::Seconds(3), &cal), time::macros::datetime!(2026-10-01 16:00:01 UTC));
        for bad in ["days", "days:0", "weeks:2", "days:x", ""] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn months_end_on_the_corresponding_day_or_the_last_of_the_month() {
        use time::macros::date;
        assert_eq!(add_months(date!(2026 - 01 - 31), 1), date!(2026 - 02 - 28));
        assert_eq!(add_months(date!(2028 - 01 - 31), 1), date!(2028 - 02 - 29));
        assert_eq!(add_months(date!(2026 - 11 - 15), 2), date!(2027 - 01 - 15));
    }
}

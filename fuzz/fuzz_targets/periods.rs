//! Periods as rule files and report requests write them (`days:15`,
//! `2026-Q4`): the parsers never panic, and a report period is a month or a
//! quarter that starts before it ends.
#![no_main]

use fengqiao_domain::period::Period;
use fengqiao_domain::report_period::ReportPeriod;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = Period::parse(text);
    if let Ok(p) = ReportPeriod::parse(text) {
        let days = (p.end - p.start) / 86_400_000_000;
        assert!((28..=92).contains(&days), "{text} spans {days} days");
    }
});

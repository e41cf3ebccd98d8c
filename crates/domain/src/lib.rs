//! Domain rules more than one component applies, written once: the referral
//! state machine (DESIGN.md §3.2) and the case number.

pub mod calendar;
pub mod case_file;
pub mod case_no;
pub mod confirmation;
pub mod court_case_no;
pub mod csv;
pub mod org;
pub mod period;
pub mod referral;
pub mod report_period;
pub mod result;
pub mod subsidy;

//! Resident identity numbers (GB 11643) as parties' details carry them: the
//! check never panics, and a number it accepts is 18 characters whose check
//! character is right — any other final character is refused as a wrong one.
#![no_main]

use fengqiao_intake::validate::resident_id::{check, check_char, IdProblem};
use libfuzzer_sys::fuzz_target;
use time::macros::date;

fuzz_target!(|text: &str| {
    let today = date!(2026 - 12 - 01);
    if check(text, today).is_ok() {
        let b = text.as_bytes();
        assert_eq!(b.len(), 18);
        assert_eq!(check_char(&b[..17]), b[17].to_ascii_uppercase());
        let other = if b[17] == b'0' { '1' } else { '0' };
        let wrong = format!("{}{other}", &text[..17]);
        assert_eq!(check(&wrong, today), Err(IdProblem::CheckDigit));
    }
});

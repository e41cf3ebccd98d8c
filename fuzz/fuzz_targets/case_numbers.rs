//! Court case numbers (案号) as courts send them: the parser never panics,
//! and what it reads, written back the way courts write it, reads the same.
#![no_main]

use fengqiao_domain::court_case_no::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(n) = parse(text) {
        let written = format!("({}){}{}{}{}号", n.year, n.province, n.court_code, n.case_type.mark(), n.seq);
        assert_eq!(parse(&written), Ok(n));
    } else if let Err(e) = parse(text) {
        assert!(e.contains("(2026)甘0802民初456号"), "every error shows how a number is written");
    }
});

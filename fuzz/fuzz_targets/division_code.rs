//! Administrative division codes as agencies and directory files give them:
//! lookups never panic, a known code has a name and a level, and the county
//! of a code is its own six-digit prefix.
#![no_main]

use fengqiao_domain::case_no::county_of;
use fengqiao_regions::{divisions, Level};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|code: &str| {
    let all = divisions();
    if all.is_known(code) {
        assert!(all.name(code).is_some(), "a known code has a name");
        assert!(Level::of_len(code.len()).is_some(), "a known code has a level");
    }
    if let Some(county) = county_of(code) {
        assert_eq!(county.len(), 6);
        assert!(code.starts_with(county));
    }
});

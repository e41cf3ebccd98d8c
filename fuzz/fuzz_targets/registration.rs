//! A registration as an agency sends it (any bytes decoded as the gRPC
//! message): validation never panics, and no violation it reports repeats a
//! party's identity number or phone number (personal data never appears in
//! error messages).
#![no_main]

use fengqiao_intake::validate::registration;
use fengqiao_proto::fengqiao::common::v1::Dispute;
use libfuzzer_sys::fuzz_target;
use prost::Message;

/// A value that could only appear in a message by being echoed.
fn is_personal_number(value: &str) -> bool {
    let digits = value.trim();
    digits.len() >= 8 && digits.bytes().all(|b| b.is_ascii_digit() || b == b'X' || b == b'x')
}

fuzz_target!(|data: &[u8]| {
    let Some((&agency_len, rest)) = data.split_first() else { return };
    let (agency, payload) = rest.split_at(usize::from(agency_len).min(rest.len()));
    let Ok(dispute) = Dispute::decode(payload) else { return };
    let agency = String::from_utf8_lossy(agency);
    let violations = registration(&agency, Some(&dispute));
    let secrets: Vec<&str> = dispute
        .parties
        .iter()
        .flat_map(|p| [p.resident_id.trim(), p.phone.trim()])
        .filter(|v| is_personal_number(v))
        .collect();
    for violation in &violations {
        assert!(!violation.field.is_empty(), "every violation names its field");
        for secret in &secrets {
            assert!(
                !violation.description.contains(secret) && !violation.field.contains(secret),
                "violation of {} repeats personal data",
                violation.field
            );
        }
    }
});

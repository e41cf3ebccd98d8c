//! Mainland telephone numbers: mobile (11 digits from 13–19) and landline
//! (area code 0 + 2–3 digits, 7–8 digit number, optional extension), with an
//! optional +86 or 86 country code and spaces or hyphens between groups.

/// True when `text` is a mainland mobile or landline number.
pub fn is_valid(text: &str) -> bool {
    let compact: String = text.chars().filter(|c| *c != ' ').collect();
    let national = compact
        .strip_prefix("+86")
        .or_else(|| compact.strip_prefix("0086"))
        .map(|r| r.trim_start_matches('-'))
        .unwrap_or(&compact);
    is_mobile(&national.replace('-', "")) || is_landline(national)
}

fn is_mobile(d: &str) -> bool {
    let d = d.strip_prefix("86").filter(|r| r.len() == 11).unwrap_or(d);
    d.len() == 11
        && d.bytes().all(|b| b.is_ascii_digit())
        && d.starts_with('1')
        && (b'3'..=b'9').contains(&d.as_bytes()[1])
}

fn is_landline(text: &str) -> bool {
    let (number, extension) = match text.matches('-').count() {
        2 => text.rsplit_once('-').map(|(n, e)| (n.to_string(), Some(e))).unwrap_or_default(),
        _ => (text.to_string(), None),
    };
    if let Some(ext) = extension {
        if ext.is_empty() || ext.len() > 6 || !ext.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    // With a country code the area code loses its leading 0.
    let digits = number.replace('-', "");
    let digits = if digits.starts_with('0') { digits } else { format!("0{digits}") };
    if !digits.bytes().all(|b| b.is_ascii_digit()) || digits.as_bytes().get(1) == Some(&b'0') {
        return false;
    }
    // Area codes: 010 and 02x (3 digits) or 03xx–09xx (4 digits); numbers of 7 or 8 digits.
    if digits.starts_with("01") && !digits.starts_with("010") {
        return false;
    }
    let area_len = if digits.starts_with("010") || digits.starts_with("02") { 3 } else { 4 };
    let subscriber = digits.len().saturating_sub(area_len);
    digits.len() > area_len && (7..=8).contains(&subscriber) && !digits[area_len..].starts_with('0')
}

#[cfg(test)]
mod tests {
    use super::is_valid;

    #[test]
    fn mobiles_and_landlines_in_their_usual_forms_pass() {
        for n in [
            "13812345678",
            "19912345678",
            "+8613812345678",
            "86 138 1234 5678",
            "0086-13812345678",
            "138-1234-5678",
            "010-12345678",
            "0933-8212345",
            "09338212345",
            "021 87654321",
            "0933-8212345-123",
            "+86-933-8212345",
        ] {
            assert!(is_valid(n), "{n}");
        }
    }

    #[test]
    fn other_strings_fail() {
        for n in [
            "",
            "12345678901",
            "1381234567",
            "138123456789",
            "23812345678",
            "12812345678",
            "0933-821234",
            "0933-821234567",
            "0001-12345678",
            "010-02345678",
            "0933-8212345-",
            "abc",
            "0933-8212345-1234567",
            "+1 415 555 0100",
            "1381234567 ",
        ] {
            assert!(!is_valid(n), "{n}");
        }
    }
}

//! Judicial confirmation (司法确认) of a mediation agreement (人民调解法 art. 33;
//! 法释〔2011〕5号): who must apply, and which matters cannot be confirmed.

/// Words in an agreement's terms that show it settles marriage, adoption or
/// identity status, which a court does not confirm.
const PERSONAL_STATUS: [&str; 8] =
    ["离婚", "解除婚姻", "婚姻关系", "婚姻效力", "收养", "亲子关系", "身份关系", "监护关系"];

/// Why an application cannot be made, in words staff act on; `Ok` when it can.
/// `declared` is the applicants' own statement that the agreement concerns
/// personal status; the terms are read for it as well.
pub fn confirmable(declared: bool, terms: &[String]) -> Result<(), String> {
    let found = terms.iter().find_map(|t| PERSONAL_STATUS.iter().find(|w| t.contains(*w)));
    if declared || found.is_some() {
        let why = found.map_or(String::new(), |w| format!(" (the terms speak of {w})"));
        return Err(format!(
            "matters of marriage, adoption or identity status cannot be judicially confirmed{why} \
             (法释〔2011〕5号 art. 7); the parties keep their agreement, or go to court"
        ));
    }
    Ok(())
}

/// `Err` unless `consents` names each of `parties` parties once: the
/// application is joint (art. 33).
pub fn joint(consents: &[u32], parties: u32) -> Result<(), String> {
    let mut named = consents.to_vec();
    named.sort_unstable();
    if named == (1..=parties).collect::<Vec<_>>() {
        Ok(())
    } else {
        Err(format!("the application is joint: name each of the {parties} parties once, by number (art. 33)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_status_cannot_be_confirmed() {
        let terms = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(confirmable(false, &terms(&["李四赔偿张三2000元"])).is_ok());
        assert!(confirmable(false, &terms(&["婚后共同财产按约分割", "子女抚养费每月800元"])).is_ok());
        for t in [&["双方自愿离婚"][..], &["解除收养关系"], &["确认亲子关系"]] {
            let e = confirmable(false, &terms(t)).unwrap_err();
            assert!(e.contains("cannot be judicially confirmed") && e.contains("art. 7"), "{t:?}: {e}");
        }
        assert!(confirmable(true, &terms(&["财产分割"])).is_err(), "declared");
    }

    #[test]
    fn the_application_is_joint() {
        assert!(joint(&[2, 1], 2).is_ok());
        for (consents, parties) in [(&[1][..], 2), (&[1, 1][..], 2), (&[1, 2, 3][..], 2), (&[][..], 2)] {
            assert!(joint(consents, parties).is_err(), "{consents:?} of {parties}");
        }
    }
}

//! A referral as the console shows it: state and risk in words, local times,
//! and the colour of its clock (red past due, amber within three days).

use fengqiao_proto::fengqiao::common::v1::{ReferralState, RiskLevel};
use fengqiao_proto::fengqiao::mediation::v1::InboxItem;
use serde::Serialize;

use crate::i18n::{state_name, words, Lang};

/// What an inbox row or a referral page shows.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ItemView {
    /// The referral id.
    pub referral_id: String,
    /// The case number.
    pub case_no: String,
    /// The state in words.
    pub state: String,
    /// The state's number (for forms and tests).
    pub state_code: i32,
    /// The risk level in words.
    pub risk: String,
    /// The dispute's category in words.
    pub category: String,
    /// Where the dispute came from, in words.
    pub source: String,
    /// The agency that sent the case.
    pub sender: String,
    /// When it arrived, local time.
    pub received_at: String,
    /// When its clock falls due, local time.
    pub due_at: String,
    /// red, amber, green or none.
    pub clock: &'static str,
    /// The clock's colour in words.
    pub clock_label: String,
    /// The organisation that leads the referral.
    pub lead_org: String,
    /// Where it arose: division code, grid, address.
    pub place: String,
    /// The point where it arose, when a phone or a photo gave one.
    pub point: Option<String>,
    /// What happened (no personal data).
    pub narrative: String,
    /// The parties as the API shows them to this caller (masked unless entitled).
    pub parties: Vec<String>,
    /// The mediators, lead first.
    pub mediators: String,
    /// The sessions held: when, where, what was recorded.
    pub sessions: Vec<String>,
    /// The outcome in words, once concluded.
    pub outcome: String,
    /// The outcome's summary.
    pub summary: String,
    /// The documents that came with the dispute (metadata only).
    pub attachments: Vec<String>,
}

const DAY_MICROS: i64 = 86_400_000_000;

/// A timestamp as local time, to the minute; empty when unset.
pub(crate) fn local(ts: Option<&prost_types::Timestamp>) -> String {
    ts.map(|ts| local_time(ts.seconds)).unwrap_or_default()
}

/// Seconds since the epoch as local time (Asia/Shanghai), to the minute.
pub fn local_time(seconds: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(seconds) else { return String::new() };
    let t = t.to_offset(time::macros::offset!(+8));
    format!("{}-{:02}-{:02} {:02}:{:02}", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute())
}

/// The colour of a clock due at `due` (microseconds), seen at `now`.
pub fn clock_colour(state: i32, due: Option<i64>, now: i64) -> &'static str {
    let open = [ReferralState::Accepted, ReferralState::InProgress, ReferralState::OnHold, ReferralState::Received]
        .iter()
        .any(|s| *s as i32 == state);
    match due {
        Some(due) if open && due <= now => "red",
        Some(due) if open && due - now <= 3 * DAY_MICROS => "amber",
        Some(_) if open => "green",
        _ => "none",
    }
}

/// The view of `item` in `lang` at `now`.
pub fn view(item: &InboxItem, lang: Lang, now: i64) -> ItemView {
    let w = words(lang);
    let due = item.clock_due_at.as_ref().map(|t| t.seconds * 1_000_000 + i64::from(t.nanos) / 1_000);
    let clock = clock_colour(item.state, due, now);
    let risk = RiskLevel::try_from(item.risk_level).unwrap_or_default();
    let dispute = item.dispute.clone().unwrap_or_default();
    let outcome = crate::i18n::outcome_name(item.outcome, lang).to_string();
    ItemView {
        referral_id: item.referral_id.clone(),
        case_no: item.case_no.clone(),
        state: state_name(item.state, lang).to_string(),
        state_code: item.state,
        risk: crate::i18n::risk_name(risk as i32, lang).to_string(),
        category: crate::i18n::category_name(dispute.category, lang).to_string(),
        source: crate::i18n::source_name(dispute.source, lang).to_string(),
        sender: item.sender.clone(),
        received_at: local(item.received_at.as_ref()),
        due_at: local(item.clock_due_at.as_ref()),
        clock,
        // A closed referral's clock needs no colour; "no clock" is for an open one without.
        clock_label: if clock == "none" && due.is_some() {
            String::new()
        } else {
            w[format!("clock_{clock}").as_str()].to_string()
        },
        lead_org: item.org_id.clone(),
        place: dispute
            .location
            .as_ref()
            .map(|l| {
                [l.division_code.as_str(), l.grid_id.as_str(), l.address.as_str()]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" · ")
            })
            .unwrap_or_default(),
        point: dispute.location.as_ref().and_then(|l| l.point.as_ref()).map(|p| crate::position::describe(p, lang)),
        narrative: dispute.narrative,
        parties: dispute
            .parties
            .iter()
            .map(|p| format!("{}: {}", crate::i18n::party_role_name(p.role, lang), p.name))
            .collect(),
        mediators: String::new(),
        sessions: Vec::new(),
        attachments: dispute.attachments.iter().map(attachment_line).collect(),
        outcome,
        summary: item.summary.clone(),
    }
}

/// An attachment's metadata on one line: name, type, size, SHA-256.
pub fn attachment_line(a: &fengqiao_proto::fengqiao::common::v1::Attachment) -> String {
    format!("{} · {} · {} B · SHA-256 {}", a.name, a.media_type, a.size_bytes, a.sha256)
}

/// An amount in yuan (`1200`, `1200.5`, `1200.50`) in fen.
pub fn yuan_to_fen(text: &str) -> Option<i64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || fraction.len() > 2 {
        return None;
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let fen: i64 = format!("{fraction:0<2}").parse().ok()?;
    whole.parse::<i64>().ok()?.checked_mul(100)?.checked_add(fen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_are_red_past_due_amber_within_three_days_and_none_when_closed() {
        let now = 1_000 * DAY_MICROS;
        let accepted = ReferralState::Accepted as i32;
        assert_eq!(clock_colour(accepted, Some(now - 1), now), "red");
        assert_eq!(clock_colour(accepted, Some(now + DAY_MICROS), now), "amber");
        assert_eq!(clock_colour(accepted, Some(now + 10 * DAY_MICROS), now), "green");
        assert_eq!(clock_colour(ReferralState::Completed as i32, Some(now - 1), now), "none");
        assert_eq!(clock_colour(accepted, None, now), "none");
    }

    #[test]
    fn yuan_are_read_to_the_fen() {
        assert_eq!(yuan_to_fen("1200"), Some(120_000));
        assert_eq!(yuan_to_fen("1200.5"), Some(120_050));
        assert_eq!(yuan_to_fen("0.05"), Some(5));
        for bad in ["", "-1", "1.234", "1,200", "abc", ".5"] {
            assert_eq!(yuan_to_fen(bad), None, "{bad}");
        }
    }
}

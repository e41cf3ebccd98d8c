//! Events as they arrive from the bus, whoever published them: the CloudEvents
//! `type` and `time` headers and the protobuf payload of every event kind.
//! Nothing panics; a payload that decodes re-encodes to a message that decodes
//! the same; a `time` that parses prints back to the same instant.
#![no_main]

use fengqiao_platform::bus::Envelope;
use fengqiao_proto::fengqiao::events::v1 as ev;
use fengqiao_proto::{Event, EventKind};
use libfuzzer_sys::fuzz_target;

fn round_trips<E: Event + PartialEq + std::fmt::Debug>(payload: &[u8]) {
    if let Ok(event) = E::decode(payload) {
        let again = E::decode(event.encode_to_vec().as_slice()).expect("a decoded event re-encodes");
        assert_eq!(again, event);
        let _ = event.case_id();
    }
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |b| *b == 0);
    let event_type = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let time = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let payload = parts.next().unwrap_or_default();
    if let Some(kind) = EventKind::from_subject(&event_type) {
        assert_eq!(kind.subject(), event_type);
    }
    if let Some(micros) = Envelope::parse_time(&time) {
        let envelope = Envelope {
            id: String::new(),
            source: String::new(),
            event_type: event_type.clone(),
            time_micros: micros,
            case_id: String::new(),
            traceparent: None,
            payload: bytes::Bytes::new(),
        };
        assert_eq!(Envelope::parse_time(&envelope.time_rfc3339()), Some(micros), "{time}");
    }
    round_trips::<ev::CaseRegistered>(payload);
    round_trips::<ev::CaseReturned>(payload);
    round_trips::<ev::CaseRiskChanged>(payload);
    round_trips::<ev::PersonalDataAccessed>(payload);
    round_trips::<ev::ReferralRequested>(payload);
    round_trips::<ev::ReferralStateChanged>(payload);
    round_trips::<ev::MediationConcluded>(payload);
    round_trips::<ev::ClockBreached>(payload);
    round_trips::<ev::ClockMissing>(payload);
    round_trips::<ev::EventDeadLettered>(payload);
    round_trips::<ev::ClockWarning>(payload);
    round_trips::<ev::AlarmRaised>(payload);
    round_trips::<ev::CaseOwnerAssigned>(payload);
    round_trips::<ev::SupervisionNoticeIssued>(payload);
    round_trips::<ev::EventReplayed>(payload);
    round_trips::<ev::ClockScheduled>(payload);
    round_trips::<ev::ConfirmationRequested>(payload);
    round_trips::<ev::ConfirmationAccepted>(payload);
    round_trips::<ev::ConfirmationDecided>(payload);
    round_trips::<ev::PetitionReviewRequested>(payload);
});

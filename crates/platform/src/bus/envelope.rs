//! The event envelope: CloudEvents attributes around a protobuf payload.

use bytes::Bytes;
use fengqiao_proto::{Event, EventKind};

/// One event as it travels: CloudEvents attributes (binary mode) and the payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// CloudEvents `id` (UUIDv7), also `Nats-Msg-Id` and the inbox key.
    pub id: String,
    /// CloudEvents `source`: `fengqiao/<component>`.
    pub source: String,
    /// CloudEvents `type`: the unprefixed subject, e.g. `fq.v1.case.registered`.
    pub event_type: String,
    /// CloudEvents `time`, microseconds since the Unix epoch.
    pub time_micros: i64,
    /// CloudEvents `subject`: the case id (the key that orders events).
    pub case_id: String,
    /// W3C `traceparent` of the span that produced it.
    pub traceparent: Option<String>,
    /// The protobuf payload.
    pub payload: Bytes,
}

impl Envelope {
    /// Wraps an event produced now by `component`, in the current trace.
    pub fn new<E: Event>(component: &str, kind: EventKind, event: &E) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            source: format!("fengqiao/{component}"),
            event_type: kind.subject().to_string(),
            time_micros: crate::db::now_micros(),
            case_id: event.case_id().to_string(),
            traceparent: crate::telemetry::current_traceparent(),
            payload: Bytes::from(event.encode_to_vec()),
        }
    }

    /// Decodes the payload as `E`.
    pub fn decode<E: Event>(&self) -> Result<E, prost::DecodeError> {
        E::decode(self.payload.clone())
    }

    /// The kind, when the type is one fengqiao knows.
    pub fn kind(&self) -> Option<EventKind> {
        EventKind::from_subject(&self.event_type)
    }

    /// CloudEvents `time` as RFC 3339.
    pub fn time_rfc3339(&self) -> String {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.time_micros) * 1_000)
            .ok()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
            .unwrap_or_default()
    }

    /// Parses an RFC 3339 CloudEvents `time` back to microseconds.
    pub fn parse_time(text: &str) -> Option<i64> {
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .ok()
            .map(|t| (t.unix_timestamp_nanos() / 1_000) as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fengqiao_proto::fengqiao::events::v1::MediationConcluded;

    #[test]
    fn an_envelope_carries_its_case_and_round_trips_its_payload_and_time() {
        let event = MediationConcluded { case_id: "c-1".into(), summary: "agreed".into(), ..Default::default() };
        let env = Envelope::new("mediation", EventKind::MediationConcluded, &event);
        assert_eq!(env.case_id, "c-1");
        assert_eq!(env.event_type, "fq.v1.mediation.concluded");
        assert_eq!(env.source, "fengqiao/mediation");
        assert_eq!(env.decode::<MediationConcluded>().unwrap(), event);
        assert_eq!(Envelope::parse_time(&env.time_rfc3339()), Some(env.time_micros));
        assert!(uuid::Uuid::parse_str(&env.id).is_ok());
    }
}

//! Text in requests: a NUL character is refused in every string field, naming
//! the field (PostgreSQL text cannot hold one, and no agency means to send it).

use fengqiao_platform::status::{self, Violation};
use prost_reflect::{DynamicMessage, MessageDescriptor, Value};
use tonic::Status;

/// INVALID_ARGUMENT naming each string field of `encoded` (a `desc`) that holds a NUL.
pub fn nul_free(desc: &MessageDescriptor, encoded: &[u8]) -> Result<(), Status> {
    if !encoded.contains(&0) {
        return Ok(()); // a NUL in a string is a zero byte in its encoding
    }
    let Ok(message) = DynamicMessage::decode(desc.clone(), encoded) else { return Ok(()) };
    let mut found = Vec::new();
    walk(&message, "", &mut found);
    if found.is_empty() {
        return Ok(());
    }
    let violations: Vec<Violation> =
        found.into_iter().map(|f| Violation::new(f, "holds a NUL character; remove it and send again")).collect();
    Err(status::invalid_argument(&violations))
}

fn walk(message: &DynamicMessage, prefix: &str, found: &mut Vec<String>) {
    for (field, value) in message.fields() {
        let path = if prefix.is_empty() { field.name().to_string() } else { format!("{prefix}.{}", field.name()) };
        visit(value, &path, found);
    }
}

fn visit(value: &Value, path: &str, found: &mut Vec<String>) {
    match value {
        Value::String(s) if s.contains('\0') => found.push(path.to_string()),
        Value::Message(m) => walk(m, path, found),
        Value::List(items) => {
            for (i, item) in items.iter().enumerate() {
                visit(item, &format!("{path}[{i}]"), found);
            }
        }
        Value::Map(entries) => {
            for (key, item) in entries {
                if let prost_reflect::MapKey::String(k) = key {
                    if k.contains('\0') {
                        found.push(path.to_string());
                    }
                }
                visit(item, path, found);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fengqiao_proto::fengqiao::common::v1::{Dispute, Party};
    use fengqiao_proto::fengqiao::gateway::v1::SubmitDisputeRequest;
    use prost::Message;

    fn desc() -> MessageDescriptor {
        crate::http::rules::pool().get_message_by_name("fengqiao.gateway.v1.SubmitDisputeRequest").unwrap()
    }

    #[test]
    fn a_nul_anywhere_in_the_request_is_refused_naming_the_field() {
        let request = SubmitDisputeRequest {
            dispute: Some(Dispute {
                narrative: "ok".into(),
                parties: vec![Party::default(), Party { name: "张\0三".into(), ..Default::default() }],
                ..Default::default()
            }),
            leader_id: "a\0b".into(),
            ..Default::default()
        };
        let refused = nul_free(&desc(), &request.encode_to_vec()).unwrap_err();
        let fields: Vec<String> = status::violations(&refused).into_iter().map(|v| v.field).collect();
        assert_eq!(fields, ["dispute.parties[1].name", "leader_id"]);
    }

    #[test]
    fn zero_bytes_that_are_not_text_pass() {
        let request = SubmitDisputeRequest {
            dispute: Some(Dispute { headcount: 0, location: Some(Default::default()), ..Default::default() }),
            ..Default::default()
        };
        assert!(nul_free(&desc(), &request.encode_to_vec()).is_ok());
    }
}

//! Requests on the HTTP/JSON face: any body, query string and path values for
//! any annotated method. Building the request message never panics; a message
//! it builds survives the trip to protobuf and back to JSON unchanged; every
//! refusal is INVALID_ARGUMENT with a field named.
#![no_main]

use fengqiao_gateway::http::rules::{pool, rules, Rule};
use fengqiao_gateway::http::transcode::request_message;
use libfuzzer_sys::fuzz_target;
use prost::Message;
use prost_reflect::DynamicMessage;
use std::sync::OnceLock;

fn all_rules() -> &'static [Rule] {
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    RULES.get_or_init(|| rules(&pool()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let rule = &all_rules()[usize::from(pick) % all_rules().len()];
    // body \0 query \0 path value
    let mut parts = rest.splitn(3, |b| *b == 0);
    let body = parts.next().unwrap_or_default();
    let query = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let value = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let bound: Vec<(String, String)> = rule.path_fields().map(|f| (f.to_string(), value.clone())).collect();
    match request_message(rule, rule.body.then_some(body), &query, &bound) {
        Ok(message) => {
            let encoded = message.encode_to_vec();
            let json =
                fengqiao_gateway::http::json(&rule.method.input(), &encoded).expect("a built message maps to JSON");
            let mut de = serde_json::Deserializer::from_slice(&json);
            let again = DynamicMessage::deserialize(rule.method.input(), &mut de).expect("its JSON reads back");
            let again = fengqiao_gateway::http::json(&rule.method.input(), &again.encode_to_vec()).expect("maps again");
            let (first, second): (serde_json::Value, serde_json::Value) =
                (serde_json::from_slice(&json).expect("JSON"), serde_json::from_slice(&again).expect("JSON"));
            assert_eq!(first, second, "the JSON mapping round-trips");
        }
        Err(status) => assert_eq!(status.code(), tonic::Code::InvalidArgument, "{}", status.message()),
    }
});

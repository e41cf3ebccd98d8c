//! The OpenAPI 3 document of the HTTP face, generated from the same
//! annotations and messages (proto3 JSON mapping), with the proto comments
//! as descriptions. Served at `/openapi.json`; a copy is kept in
//! `docs/openapi.json` and a test keeps the two equal.

use std::collections::{BTreeMap, HashMap};

use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{json, Map, Value as Json};

use super::rules::{rules, Rule};

/// Error answers every operation may give, with what each means to a caller.
const ERRORS: [(&str, &str); 8] = [
    ("400", "INVALID_ARGUMENT (see details[].fieldViolations; an Idempotency-Key reused with another request names `idempotency-key`), FAILED_PRECONDITION, or OUT_OF_RANGE (the request is larger than the size limit)"),
    ("401", "UNAUTHENTICATED: no valid token or client certificate"),
    ("403", "PERMISSION_DENIED: the agency's kind may not make this call"),
    ("404", "NOT_FOUND: no such case among the agency's own"),
    ("409", "ABORTED: the first call with this Idempotency-Key is still running; retry in a second"),
    ("429", "RESOURCE_EXHAUSTED: over the agency's rate or calls in progress, or too many wrong verification codes; retry after Retry-After"),
    ("503", "UNAVAILABLE: a component is not answering; retry after Retry-After"),
    ("504", "DEADLINE_EXCEEDED: the call ran past its deadline; read the status, or retry with the same Idempotency-Key"),
];

/// The document.
pub fn document(pool: &DescriptorPool) -> Json {
    let comments = Comments::new(pool);
    let mut schemas = BTreeMap::new();
    let mut paths: BTreeMap<String, Map<String, Json>> = BTreeMap::new();
    for rule in rules(pool) {
        let operation = operation(&rule, &comments, &mut schemas);
        paths.entry(rule.openapi_path().to_string()).or_default().insert(rule.verb.as_str().to_lowercase(), operation);
    }
    let status = pool.get_message_by_name("google.rpc.Status").expect("google/rpc/status.proto is compiled in");
    schema_of_message(&status, &comments, &mut schemas, false);
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "fengqiao agency API",
            "version": "v1",
            "description": "The HTTP/JSON face of fengqiao.gateway.v1.AgencyService: the same calls, answers \
                and errors as gRPC (proto3 JSON mapping). Authenticate with `Authorization: Bearer <JWT>` or a \
                client certificate. Send `Idempotency-Key` on every POST to make retries safe. Errors are \
                google.rpc.Status objects. See docs/agency-guide.md.",
        },
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT (EdDSA)"},
            },
            "schemas": schemas,
        },
    })
}

fn operation(rule: &Rule, comments: &Comments, schemas: &mut BTreeMap<String, Json>) -> Json {
    let input = rule.method.input();
    let path_fields: Vec<&str> = rule.path_fields().collect();
    let mut parameters = Vec::new();
    for name in &path_fields {
        let field = input.get_field_by_name(name).expect("a path field of the request");
        parameters.push(json!({
            "name": name, "in": "path", "required": true,
            "description": comments.of(&field.parent_file(), field.path()),
            "schema": schema_of_field(&field, comments, schemas, true),
        }));
    }
    if !rule.body {
        for field in
            input.fields().filter(|f| !path_fields.contains(&f.name()) && !matches!(f.kind(), Kind::Message(_)))
        {
            parameters.push(json!({
                "name": field.json_name(), "in": "query", "required": false,
                "description": comments.of(&field.parent_file(), field.path()),
                "schema": schema_of_field(&field, comments, schemas, true),
            }));
        }
    }
    if rule.verb == http::Method::POST {
        parameters.push(json!({
            "name": "Idempotency-Key", "in": "header", "required": false,
            "description": "Any unique string (a UUID); a retry with the same key and body gets the first answer.",
            "schema": {"type": "string", "maxLength": 128},
        }));
    }
    let output = rule.method.output();
    schema_of_message(&output, comments, schemas, false);
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({"description": "OK", "content": {"application/json": {"schema": reference(&output)}}}),
    );
    for (code, meaning) in ERRORS {
        responses.insert(code.into(), error_response(meaning));
    }
    responses.insert("default".into(), error_response("another gRPC status, as google.rpc.Status"));
    let mut op = json!({
        "operationId": rule.method.name(),
        "summary": comments.of(&rule.method.parent_file(), rule.method.path()),
        "parameters": parameters,
        "responses": responses,
    });
    if rule.body {
        schema_of_message(&input, comments, schemas, true);
        op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": reference(&input)}}});
    }
    op
}

fn error_response(meaning: &str) -> Json {
    json!({"description": meaning, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/google.rpc.Status"}}}})
}

fn reference(message: &MessageDescriptor) -> Json {
    json!({"$ref": format!("#/components/schemas/{}", message.full_name())})
}

/// Adds `message` (and what it holds) to `schemas`; `request` forbids unknown
/// properties, as the server does.
fn schema_of_message(
    message: &MessageDescriptor,
    comments: &Comments,
    schemas: &mut BTreeMap<String, Json>,
    request: bool,
) {
    if schemas.contains_key(message.full_name()) {
        return;
    }
    schemas.insert(message.full_name().to_string(), Json::Null); // reserve: messages may nest themselves
    let mut properties = Map::new();
    for field in message.fields() {
        let mut schema = schema_of_field(&field, comments, schemas, request);
        let description = comments.of(&field.parent_file(), field.path());
        if !description.is_empty() {
            schema = match schema {
                Json::Object(mut o) if !o.contains_key("$ref") => {
                    o.insert("description".into(), description.into());
                    Json::Object(o)
                }
                other => json!({"allOf": [other], "description": description}),
            };
        }
        properties.insert(field.json_name().to_string(), schema);
    }
    let mut schema = json!({
        "type": "object",
        "description": comments.of(&message.parent_file(), message.path()),
        "properties": properties,
    });
    if message.full_name() == "google.protobuf.Any" {
        schema = json!({"type": "object", "description": "A detail, named by its @type.",
            "properties": {"@type": {"type": "string"}}, "additionalProperties": true});
    } else if request {
        schema["additionalProperties"] = false.into();
    }
    schemas.insert(message.full_name().to_string(), schema);
}

fn schema_of_field(
    field: &FieldDescriptor,
    comments: &Comments,
    schemas: &mut BTreeMap<String, Json>,
    request: bool,
) -> Json {
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else { unreachable!("a map field is a message of entries") };
        let value = entry.map_entry_value_field();
        return json!({"type": "object", "additionalProperties": schema_of_kind(&value.kind(), comments, schemas, request)});
    }
    let one = schema_of_kind(&field.kind(), comments, schemas, request);
    if field.is_list() {
        json!({"type": "array", "items": one})
    } else {
        one
    }
}

fn schema_of_kind(kind: &Kind, comments: &Comments, schemas: &mut BTreeMap<String, Json>, request: bool) -> Json {
    match kind {
        Kind::Double | Kind::Float => json!({"type": "number"}),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => json!({"type": "integer", "format": "int32"}),
        Kind::Uint32 | Kind::Fixed32 => {
            json!({"type": "integer", "format": "int64", "minimum": 0, "maximum": u32::MAX})
        }
        // proto3 JSON writes 64-bit integers as strings.
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            json!({"type": "string", "format": "int64", "pattern": "^-?[0-9]{1,18}$"})
        }
        Kind::Uint64 | Kind::Fixed64 => json!({"type": "string", "format": "uint64", "pattern": "^[0-9]{1,19}$"}),
        Kind::Bool => json!({"type": "boolean"}),
        Kind::String => json!({"type": "string"}),
        Kind::Bytes => json!({"type": "string", "format": "byte"}),
        Kind::Enum(e) => {
            json!({"type": "string", "enum": e.values().map(|v| v.name().to_string()).collect::<Vec<_>>()})
        }
        Kind::Message(m) => match m.full_name() {
            "google.protobuf.Timestamp" => json!({"type": "string", "format": "date-time"}),
            "google.protobuf.Duration" => json!({"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?s$"}),
            _ => {
                schema_of_message(m, comments, schemas, request);
                reference(m)
            }
        },
    }
}

/// The leading comments of the protos, by file and descriptor path.
struct Comments(HashMap<(String, Vec<i32>), String>);

impl Comments {
    fn new(pool: &DescriptorPool) -> Self {
        let mut map = HashMap::new();
        for file in pool.files() {
            let proto = file.file_descriptor_proto();
            for location in proto.source_code_info.iter().flat_map(|i| &i.location) {
                if let Some(text) = &location.leading_comments {
                    let text = text.lines().map(str::trim).collect::<Vec<_>>().join(" ").trim().to_string();
                    map.insert((file.name().to_string(), location.path.clone()), text);
                }
            }
        }
        Self(map)
    }

    fn of(&self, file: &prost_reflect::FileDescriptor, path: &[i32]) -> String {
        self.0.get(&(file.name().to_string(), path.to_vec())).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_openapi_document_is_the_one_the_protos_make() {
        let generated = serde_json::to_string_pretty(&document(&super::super::rules::pool())).unwrap() + "\n";
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/openapi.json is stale: run `cargo run -p fengqiao -- openapi > docs/openapi.json` and commit it"
        );
    }

    #[test]
    fn every_annotated_call_is_documented_with_its_errors() {
        let doc = document(&super::super::rules::pool());
        let submit = &doc["paths"]["/v1/disputes"]["post"];
        assert_eq!(submit["operationId"], "SubmitDispute");
        assert!(submit["summary"].as_str().unwrap().contains("Hands a dispute over"));
        assert_eq!(
            submit["responses"]["404"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/google.rpc.Status"
        );
        let request = &doc["components"]["schemas"]["fengqiao.gateway.v1.SubmitDisputeRequest"];
        assert_eq!(request["additionalProperties"], false);
        let status = &doc["paths"]["/v1/cases/{case_id}/status"]["get"];
        assert_eq!(status["parameters"][0]["in"], "path");
        assert!(!doc["components"]["schemas"].as_object().unwrap().values().any(Json::is_null));
    }
}

//! The HTTP routes of the agency API, read from the `google.api.http`
//! annotations in the protos (the one source of truth for both faces).

use prost_reflect::{DescriptorPool, MethodDescriptor, Value};

/// The service whose annotated methods the HTTP face serves.
pub const SERVICE: &str = "fengqiao.gateway.v1.AgencyService";

/// One annotated method: `verb template` → the gRPC method.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The HTTP method.
    pub verb: http::Method,
    /// The path template, as written in the proto.
    pub template: String,
    segments: Vec<Segment>,
    custom_verb: Option<String>,
    /// Whether the request body is the whole request message (`body: "*"`).
    pub body: bool,
    /// The gRPC method.
    pub method: MethodDescriptor,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Field(String),
}

/// The parsed descriptors of every fengqiao contract (with comments).
pub fn pool() -> DescriptorPool {
    DescriptorPool::decode(fengqiao_proto::FILE_DESCRIPTOR_SET).expect("the build's descriptor set decodes")
}

/// Every annotated method of the agency service, in proto order.
pub fn rules(pool: &DescriptorPool) -> Vec<Rule> {
    let service = pool.get_service_by_name(SERVICE).expect("the agency service is compiled in");
    let http = pool.get_extension_by_name("google.api.http").expect("google/api/annotations.proto is compiled in");
    let mut rules = Vec::new();
    for method in service.methods() {
        let options = method.options();
        if !options.has_extension(&http) {
            continue;
        }
        let Value::Message(rule) = options.get_extension(&http).into_owned() else { continue };
        let text = |name: &str| rule.get_field_by_name(name).and_then(|v| v.as_str().map(str::to_string));
        let Some((verb, template)) = ["get", "post", "put", "delete", "patch"]
            .iter()
            .find_map(|v| text(v).filter(|t| !t.is_empty()).map(|t| (v.to_uppercase(), t)))
        else {
            continue;
        };
        let (segments, custom_verb) = parse(&template);
        rules.push(Rule {
            verb: verb.parse().expect("an HTTP method"),
            template,
            segments,
            custom_verb,
            body: text("body").as_deref() == Some("*"),
            method,
        });
    }
    rules
}

/// `/v1/cases/{case_id}:revoke` → its segments and custom verb.
fn parse(template: &str) -> (Vec<Segment>, Option<String>) {
    let path = template.trim_start_matches('/');
    let (path, verb) = match path.rfind(':') {
        Some(i) if !path[i..].contains('/') && !path[i..].contains('}') => {
            (&path[..i], Some(path[i + 1..].to_string()))
        }
        _ => (path, None),
    };
    let segments = path
        .split('/')
        .map(|s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(field) => Segment::Field(field.split('=').next().unwrap_or(field).to_string()),
            None => Segment::Literal(s.to_string()),
        })
        .collect();
    (segments, verb)
}

impl Rule {
    /// The path fields this rule binds from `path`, or `None` if it does not match.
    pub fn matches(&self, path: &str) -> Option<Vec<(String, String)>> {
        let path = path.trim_start_matches('/');
        let path = match &self.custom_verb {
            Some(verb) => path.strip_suffix(verb.as_str())?.strip_suffix(':')?,
            None => path,
        };
        let parts: Vec<&str> = path.split('/').collect();
        if parts.len() != self.segments.len() {
            return None;
        }
        let mut bound = Vec::new();
        for (segment, part) in self.segments.iter().zip(parts) {
            let part = percent_encoding::percent_decode_str(part).decode_utf8().ok()?;
            match segment {
                Segment::Literal(l) if *l == part => {}
                Segment::Literal(_) => return None,
                Segment::Field(_) if part.is_empty() => return None,
                Segment::Field(f) => bound.push((f.clone(), part.into_owned())),
            }
        }
        Some(bound)
    }

    /// The fields bound from the path.
    pub fn path_fields(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Field(f) => Some(f.as_str()),
            Segment::Literal(_) => None,
        })
    }

    /// The gRPC path of the method, e.g. `/fengqiao.gateway.v1.AgencyService/GetStatus`.
    pub fn grpc_path(&self) -> String {
        format!("/{}/{}", self.method.parent_service().full_name(), self.method.name())
    }

    /// The template in OpenAPI's form (`{case_id}:revoke` stays as written).
    pub fn openapi_path(&self) -> &str {
        &self.template
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_http_rule_of_the_agency_service_is_read_from_its_annotation() {
        let rules = rules(&pool());
        let submit = rules.iter().find(|r| r.method.name() == "SubmitDispute").unwrap();
        assert_eq!((submit.verb.as_str(), submit.template.as_str(), submit.body), ("POST", "/v1/disputes", true));
        let revoke = rules.iter().find(|r| r.method.name() == "RevokeReferral").unwrap();
        assert_eq!(revoke.matches("/v1/cases/c-1:revoke"), Some(vec![("case_id".into(), "c-1".into())]));
        assert_eq!(revoke.matches("/v1/cases/c-1"), None);
        let status = rules.iter().find(|r| r.method.name() == "GetStatus").unwrap();
        assert_eq!(status.matches("/v1/cases/c-1/status"), Some(vec![("case_id".into(), "c-1".into())]));
        assert_eq!(status.matches("/v1/cases//status"), None);
        assert_eq!(status.matches("/v1/cases/c-1:revoke"), None);
        assert!(!rules.iter().any(|r| r.method.is_server_streaming()), "a stream has no unary HTTP rule");
    }

    #[test]
    fn path_values_are_percent_decoded() {
        let rules = rules(&pool());
        let rates = rules.iter().find(|r| r.method.name() == "GetPetitionRates").unwrap();
        assert_eq!(rates.matches("/v1/petition-rates/2026-Q3"), Some(vec![("period".into(), "2026-Q3".into())]));
        let status = rules.iter().find(|r| r.method.name() == "GetStatus").unwrap();
        assert_eq!(status.matches("/v1/cases/%E6%A1%88/status"), Some(vec![("case_id".into(), "案".into())]));
    }
}

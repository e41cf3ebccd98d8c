//! The agency API's HTTP/JSON face as a test client sees it.

use serde_json::{json, Value};

use crate::system::System;

/// An agency system calling the HTTP face with its token.
pub struct Http {
    pub base: String,
    pub token: String,
    pub client: reqwest::Client,
}

impl Http {
    /// `agency`'s session with the system's gateway.
    pub fn new(system: &System, agency: &str) -> Self {
        Self {
            base: format!("http://{}", system.addr("gateway")),
            token: system.token(agency),
            client: crate::http_client(),
        }
    }

    /// Calls `path` and returns the HTTP status and the JSON answer.
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the gateway answers HTTP");
        let code = response.status().as_u16();
        assert_eq!(response.headers()["content-type"], "application/json");
        (code, response.json().await.expect("a JSON answer"))
    }
}

/// A police dispute in proto3 JSON.
pub fn police_dispute(external_ref: &str) -> Value {
    json!({"dispute": {
        "source": "SOURCE_POLICE",
        "externalRef": external_ref,
        "category": "CATEGORY_NEIGHBOURHOOD",
        "parties": [{"role": "PARTY_ROLE_APPLICANT", "name": "张三"}, {"role": "PARTY_ROLE_RESPONDENT", "name": "李四"}],
        "location": {"divisionCode": "620802001001"},
        "narrative": "楼上装修噪音扰民",
    }})
}

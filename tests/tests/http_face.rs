//! The gateway's HTTP/JSON face: the same calls, answers and errors as gRPC,
//! on the same port, described by the OpenAPI document it serves.

use fengqiao_proto::fengqiao::common::v1::{ReferralState, Source};
use fengqiao_tests::http::{police_dispute, Http};
use fengqiao_tests::scenario::*;
use fengqiao_tests::system::{Mode, System};
use serde_json::{json, Value};

#[tokio::test]
async fn http_json_submits_and_reads_the_same_case_the_grpc_face_sees() {
    let system = System::start(Mode::Distributed).await.unwrap();
    let http = Http::new(&system, POLICE);
    let (code, answer) = http.call(reqwest::Method::POST, "/v1/disputes", Some(police_dispute("JQ-HTTP-1"))).await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["created"], true);
    let case_id = answer["status"]["caseId"].as_str().unwrap().to_string();
    assert!(answer["status"]["caseNo"].as_str().unwrap().starts_with("620802-"));

    // The gRPC face sees the same case; the HTTP face then reads its progress in proto3 JSON.
    let grpc = AgencySession::connect(&system, POLICE).await;
    grpc.wait_for(&case_id, "RECEIVED", in_state(ReferralState::Received)).await;
    let (code, status) = http.call(reqwest::Method::GET, &format!("/v1/cases/{case_id}/status"), None).await;
    assert_eq!(code, 200);
    assert_eq!(status["status"]["referralState"], "REFERRAL_STATE_RECEIVED");
    assert_eq!(status["status"]["orgId"], VILLAGE_ORG);

    // Resubmitting the same incident over either face returns the first case.
    let again = grpc.submit(dispute(Source::Police, "JQ-HTTP-1")).await.unwrap();
    assert_eq!(again.status.unwrap().case_id, case_id);
    assert!(!again.created);

    // Revoking over HTTP: the custom-verb path, a required field missing → the gRPC violation, in JSON.
    let (code, error) = http.call(reqwest::Method::POST, &format!("/v1/cases/{case_id}:revoke"), Some(json!({}))).await;
    assert_eq!(code, 400);
    assert_eq!(error["code"], 3);
    assert_eq!(error["details"][0]["@type"], "type.googleapis.com/google.rpc.BadRequest");
    assert_eq!(error["details"][0]["fieldViolations"][0]["field"], "reason");
    let grpc_error = grpc.revoke(&case_id, "").await.unwrap_err();
    assert_eq!(error["message"], grpc_error.message());
    system.finish().await;
}

#[tokio::test]
async fn http_errors_are_the_grpc_statuses_with_their_http_codes() {
    let system = System::start(Mode::Standalone).await.unwrap();
    let police = Http::new(&system, POLICE);
    let (code, answer) = police.call(reqwest::Method::POST, "/v1/disputes", Some(police_dispute("JQ-HTTP-2"))).await;
    assert_eq!(code, 200, "{answer}");
    let case_id = answer["status"]["caseId"].as_str().unwrap().to_string();

    // Another agency's case does not exist for it.
    let other = Http::new(&system, "police-620802-xijiao");
    let (code, error) = other.call(reqwest::Method::GET, &format!("/v1/cases/{case_id}/status"), None).await;
    assert_eq!((code, error["code"].as_i64()), (404, Some(5)));
    // Every answer, error or not, carries the caller's request id (or one the gateway made) to quote.
    let url = format!("{}/v1/cases/{case_id}/status", other.base);
    let traced =
        other.client.get(&url).bearer_auth(&other.token).header("x-request-id", "req-42").send().await.unwrap();
    assert_eq!((traced.status().as_u16(), traced.headers()["x-request-id"].to_str().unwrap()), (404, "req-42"));
    let url = format!("{}/v1/cases/{case_id}/status", police.base);
    let answered = police.client.get(&url).bearer_auth(&police.token).send().await.unwrap();
    assert_eq!(answered.status().as_u16(), 200);
    assert!(!answered.headers()["x-request-id"].is_empty());
    // No credential: 401 UNAUTHENTICATED, saying what to send.
    let anonymous = Http { token: String::new(), ..Http::new(&system, POLICE) };
    let (code, error) = anonymous.call(reqwest::Method::GET, &format!("/v1/cases/{case_id}/status"), None).await;
    assert_eq!((code, error["code"].as_i64()), (401, Some(16)));
    // Not JSON, an unknown field, a wrong enum name: 400 naming the body, nothing registered.
    for body in [json!("text"), json!({"nonsense": 1}), json!({"dispute": {"source": "POLICE"}})] {
        let (code, error) = police.call(reqwest::Method::POST, "/v1/disputes", Some(body.clone())).await;
        assert_eq!(code, 400, "{body} → {error}");
        assert_eq!(error["details"][0]["fieldViolations"][0]["field"], "body");
    }
    // A path that is not in the API, and a verb the path does not take.
    let (code, _) = police.call(reqwest::Method::GET, "/v1/nothing-here", None).await;
    assert_eq!(code, 404);
    let (code, _) = police.call(reqwest::Method::GET, "/v1/disputes", None).await;
    assert_eq!(code, 405);

    // The served document is the one kept in the repository.
    let served = police.client.get(format!("{}/openapi.json", police.base)).send().await.unwrap();
    let served: Value = served.json().await.unwrap();
    let kept: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(served, kept);
    system.finish().await;
}

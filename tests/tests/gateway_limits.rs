//! Overload at the gateway: an agency past its rate gets RESOURCE_EXHAUSTED
//! with retry advice (429 and Retry-After over HTTP) while other agencies go
//! on, and is served again once it waits; oversized messages and spent
//! deadlines are refused cleanly, and the gateway keeps answering.

use std::time::Duration;

use fengqiao_proto::fengqiao::gateway::v1::ListStatusChangesRequest;
use fengqiao_tests::http::Http;
use fengqiao_tests::scenario::*;
use fengqiao_tests::system::{Mode, System};
use reqwest::Method;
use serde_json::json;
use tonic::Code;

#[tokio::test]
async fn an_agency_over_its_rate_is_told_to_retry_later_and_recovers_while_others_go_on() {
    let system = System::start_with(
        Mode::Standalone,
        &[
            ("FENGQIAO_AGENCY_API__RATE_PER_SECOND", "5"),
            ("FENGQIAO_AGENCY_API__RATE_BURST", "10"),
            ("FENGQIAO_AGENCY_API__MAX_MESSAGE_BYTES", "65536"),
        ],
    )
    .await
    .unwrap();
    let police = AgencySession::connect(&system, POLICE).await;
    let court = AgencySession::connect(&system, COURT).await;

    // 60 calls at once from one agency: the burst is served, the rest refused at once with advice.
    let calls = (0..60).map(|_| police.list_status_changes(ListStatusChangesRequest::default()));
    let results = futures::future::join_all(calls).await;
    let served = results.iter().filter(|r| r.is_ok()).count();
    let refused: Vec<&tonic::Status> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!((10..=15).contains(&served), "the burst of 10 (and what the rate refilled) is served: {served}");
    assert!(refused.iter().all(|s| s.code() == Code::ResourceExhausted), "{refused:?}");
    let advice = fengqiao_platform::status::retry_after(refused[0]).expect("retry advice");
    assert!(advice <= Duration::from_secs(1), "{advice:?}");

    // Meanwhile another agency is served, and over HTTP the refusal is 429 with Retry-After.
    court.list_status_changes(ListStatusChangesRequest::default()).await.unwrap();
    let http = Http::new(&system, POLICE);
    let mut saw_429 = false;
    for _ in 0..20 {
        let response =
            http.client.get(format!("{}/v1/status-changes", http.base)).bearer_auth(&http.token).send().await.unwrap();
        if response.status().as_u16() == 429 {
            assert!(response.headers().contains_key("retry-after"));
            saw_429 = true;
            break;
        }
    }
    assert!(saw_429, "an HTTP caller past its rate gets 429");

    // Waiting as advised, the agency is served again.
    tokio::time::sleep(advice + Duration::from_millis(400)).await;
    police.list_status_changes(ListStatusChangesRequest::default()).await.unwrap();

    // A body past the message limit is refused on both faces; the gateway goes on.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut big = dispute(fengqiao_proto::fengqiao::common::v1::Source::Police, "JQ-BIG-1");
    big.narrative = "很长的叙述".repeat(10_000);
    let refused = police.submit(big).await.unwrap_err();
    assert_eq!(refused.code(), Code::OutOfRange, "{refused:?}");
    let (code, error) =
        http.call(Method::POST, "/v1/disputes", Some(json!({"dispute": {"narrative": "长".repeat(70_000)}}))).await;
    assert_eq!((code, error["code"].as_i64()), (400, Some(Code::OutOfRange as i64)), "{error}");
    assert!(error["message"].as_str().unwrap().contains("larger than 65536 bytes"), "{error}");
    police.list_status_changes(ListStatusChangesRequest::default()).await.unwrap();
    system.finish().await;
}

#[tokio::test]
async fn calls_past_the_gateways_bound_are_shed_with_unavailable_and_health_still_answers() {
    let system = System::start_with(Mode::Standalone, &[("FENGQIAO_AGENCY_API__MAX_IN_FLIGHT", "1")]).await.unwrap();
    let police = AgencySession::connect(&system, POLICE).await;
    let court = AgencySession::connect(&system, COURT).await;
    // Two agencies, each well within its own limits, together past the gateway's bound of one call at a time.
    let calls = (0..100).map(|i| {
        let who = if i % 2 == 0 { &police } else { &court };
        who.list_status_changes(ListStatusChangesRequest::default())
    });
    let results = futures::future::join_all(calls).await;
    let shed: Vec<&tonic::Status> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(!shed.is_empty(), "100 calls at once overlap, and the bound is one");
    assert!(shed.len() < 100, "the calls that fit are served");
    assert!(shed.iter().all(|s| s.code() == Code::Unavailable), "{shed:?}");
    assert!(fengqiao_platform::status::retry_after(shed[0]).is_some(), "{:?}", shed[0]);
    assert_eq!(
        fengqiao_tests::health(system.addr("gateway")).await.unwrap(),
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );
    // Once the burst has passed, calls are served again.
    police.list_status_changes(ListStatusChangesRequest::default()).await.unwrap();
    system.finish().await;
}

#[tokio::test]
async fn a_call_past_the_callers_deadline_answers_deadline_exceeded() {
    let system = System::start(Mode::Standalone).await.unwrap();
    let token = system.token(POLICE);
    // A raw gRPC call, so the client's own timer cannot answer first: grpc-timeout of 1 ns.
    let client = fengqiao_tests::http2_client();
    let url = format!("http://{}/fengqiao.gateway.v1.AgencyService/ListStatusChanges", system.addr("gateway"));
    let response = client
        .post(url)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-timeout", "1n")
        .bearer_auth(&token)
        .body(vec![0u8, 0, 0, 0, 0])
        .send()
        .await
        .unwrap();
    // The status comes in the headers (trailers-only answer) or in the trailers.
    let response = http::Response::from(response);
    let headers = response.headers().clone();
    let trailers = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().trailers().cloned();
    let status = if headers.contains_key("grpc-status") { headers } else { trailers.unwrap_or_default() };
    let code = status.get("grpc-status").map(|v| v.to_str().unwrap().to_string());
    assert_eq!(code.as_deref(), Some("4"), "DEADLINE_EXCEEDED: {status:?}");
    let message = percent_decode(status["grpc-message"].to_str().unwrap());
    assert!(message.contains("deadline"), "{message}");
    system.finish().await;
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
}

//! Party look-up and the checks every submission passes: a look-up service
//! finds a case's progress by case number and verification code (no personal
//! data), sees who called about it, and is throttled against guessing; a
//! dispute outside the agency's county and text holding NUL are refused and
//! change nothing.

use fengqiao_proto::fengqiao::common::v1::{Location, Source};
use fengqiao_tests::http::{police_dispute, Http};
use fengqiao_tests::scenario::*;
use fengqiao_tests::system::{Mode, System};
use reqwest::Method;
use serde_json::json;
use tonic::Code;

const PORTAL: &str = "portal-620802";

#[tokio::test]
async fn a_party_follows_its_case_by_number_and_code_and_sees_who_called_about_it() {
    let system =
        System::start_with(Mode::Standalone, &[("FENGQIAO_AGENCY_API__LOOKUP_MAX_FAILURES", "3")]).await.unwrap();
    let out = system.cli(&[
        "agencies",
        "add",
        "--id",
        PORTAL,
        "--kind",
        "lookup",
        "--name",
        "崆峒区群众服务门户",
        "--division",
        "620802",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let police = AgencySession::connect(&system, POLICE).await;
    let submitted = police.submit(dispute(Source::Police, "JQ-LOOKUP-1")).await.unwrap();
    let code = submitted.verification_code.clone();
    assert_eq!(code.len(), 8, "{code}");
    let status = submitted.status.unwrap();
    // The same code on a resubmission: the receipt the party holds stays good.
    let again = police.submit(dispute(Source::Police, "JQ-LOOKUP-1")).await.unwrap();
    assert_eq!(again.verification_code, code);
    police.status(&status.case_id).await.unwrap();

    let portal = Http::new(&system, PORTAL);
    let ask = json!({"caseNo": status.case_no, "verificationCode": code.to_lowercase()});
    let (http_code, progress) = portal.call(Method::POST, "/v1/progress:lookup", Some(ask.clone())).await;
    assert_eq!(http_code, 200, "{progress}");
    assert_eq!(progress["caseNo"], status.case_no.as_str());
    let text = progress.to_string();
    for personal in ["张三", "李四", "楼上装修"] {
        assert!(!text.contains(personal), "no personal data in {text}");
    }

    let (http_code, access) = portal.call(Method::POST, "/v1/progress:access", Some(ask.clone())).await;
    assert_eq!(http_code, 200, "{access}");
    let calls: Vec<(String, String)> = access["accesses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["agencyId"].as_str().unwrap().to_string(), a["method"].as_str().unwrap().to_string()))
        .collect();
    assert!(calls.contains(&(POLICE.to_string(), "GetStatus".to_string())), "{calls:?}");
    assert!(access["accesses"][0]["agencyName"].as_str().unwrap().contains("派出所"), "{access}");

    // An agency that is not a look-up service may not look up; a look-up service may not read statuses.
    let refused = Http::new(&system, POLICE).call(Method::POST, "/v1/progress:lookup", Some(ask.clone())).await;
    assert_eq!(refused.0, 403, "{}", refused.1);
    let refused = portal.call(Method::GET, &format!("/v1/cases/{}/status", status.case_id), None).await;
    assert_eq!(refused.0, 403, "{}", refused.1);

    // Wrong codes: NOT_FOUND, then — after three — the case number is refused even with the right code.
    let wrong = json!({"caseNo": status.case_no, "verificationCode": "22222222"});
    for _ in 0..3 {
        let (http_code, error) = portal.call(Method::POST, "/v1/progress:lookup", Some(wrong.clone())).await;
        assert_eq!(http_code, 404, "{error}");
    }
    let response = portal
        .client
        .post(format!("{}/v1/progress:lookup", portal.base))
        .bearer_auth(&portal.token)
        .json(&ask)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after > 60, "{retry_after}");
    system.finish().await;
}

#[tokio::test]
async fn a_dispute_outside_the_agencys_county_or_holding_nul_is_refused_and_changes_nothing() {
    let system = System::start(Mode::Standalone).await.unwrap();
    let police = AgencySession::connect(&system, POLICE).await;
    let mut elsewhere = dispute(Source::Police, "JQ-JURIS-1");
    elsewhere.location = Some(Location { division_code: "620821100001".into(), ..Default::default() });
    let refused = police.submit(elsewhere).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let fields = fengqiao_platform::status::violations(&refused);
    assert_eq!(fields[0].field, "dispute.location.division_code", "{}", refused.message());
    assert!(fields[0].description.contains("620802"), "{}", fields[0].description);

    let http = Http::new(&system, POLICE);
    let mut body = police_dispute("JQ-NUL-1");
    body["dispute"]["narrative"] = json!("噪音\u{0}扰民");
    let (code, error) = http.call(Method::POST, "/v1/disputes", Some(body)).await;
    assert_eq!(code, 400, "{error}");
    assert_eq!(error["details"][0]["fieldViolations"][0]["field"], "dispute.narrative");

    let (code, changes) = http.call(Method::GET, "/v1/status-changes", None).await;
    assert_eq!(code, 200);
    assert!(changes.get("changes").is_none(), "nothing was registered: {changes}");
    system.finish().await;
}

/// A new case's owner row is written in its submit call's audit commit, so a
/// resubmission racing that call (another key, or none) may write the row
/// first. Every answer still carries the one code stored for the case, and a
/// party can look the case up with it.
#[tokio::test]
async fn a_submission_racing_its_resubmissions_answers_each_the_code_a_party_can_look_up() {
    let system =
        System::start_with(Mode::Standalone, &[("FENGQIAO_AGENCY_API__LOOKUP_MAX_FAILURES", "1000")]).await.unwrap();
    let out =
        system.cli(&["agencies", "add", "--id", PORTAL, "--kind", "lookup", "--name", "门户", "--division", "620802"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let police = std::sync::Arc::new(AgencySession::connect(&system, POLICE).await);
    let portal = Http::new(&system, PORTAL);
    for case in 0..12 {
        let external_ref = format!("JQ-RACE-{case}");
        let racers: Vec<_> = (0..6)
            .map(|i| {
                let (police, external_ref) = (police.clone(), external_ref.clone());
                tokio::spawn(async move {
                    let dispute = dispute(Source::Police, &external_ref);
                    let key = format!("race-{external_ref}-{i}");
                    let metadata: &[(&'static str, &str)] = if i % 2 == 0 { &[("idempotency-key", &key)] } else { &[] };
                    police.submit_carrying(dispute, metadata).await.unwrap()
                })
            })
            .collect();
        let mut answers = Vec::new();
        for racer in racers {
            answers.push(racer.await.unwrap());
        }
        assert_eq!(answers.iter().filter(|a| a.created).count(), 1, "{external_ref}: registered once");
        let code = answers[0].verification_code.clone();
        assert!(answers.iter().all(|a| a.verification_code == code), "{external_ref}: one code in every answer");
        let again = police.submit(dispute(Source::Police, &external_ref)).await.unwrap();
        assert_eq!(again.verification_code, code, "{external_ref}: the stored code is the one answered");

        let case_no = again.status.unwrap().case_no;
        let ask = json!({"caseNo": case_no, "verificationCode": code});
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let (http_code, progress) = portal.call(Method::POST, "/v1/progress:lookup", Some(ask.clone())).await;
            if http_code == 200 {
                break;
            }
            // Not found until the status projection records the case.
            assert_eq!(http_code, 404, "{progress}");
            assert!(std::time::Instant::now() < deadline, "{external_ref}: never found by its number and code");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

//! Every call through the gateway is in the hash-chained audit log, which
//! `fengqiao audit verify` proves and whose first altered entry it names;
//! an Idempotency-Key makes a retried mutating call return its first answer.

use fengqiao_proto::fengqiao::common::v1::{ReferralState, Source};
use fengqiao_proto::fengqiao::gateway::v1::agency_service_client::AgencyServiceClient;
use fengqiao_proto::fengqiao::gateway::v1::RevokeReferralRequest;
use fengqiao_tests::scenario::*;
use fengqiao_tests::system::{Mode, System};
use sqlx::Connection;
use tonic::Code;

fn cli(system: &System, args: &[&str]) -> (bool, String) {
    let out = system.cli(args);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[tokio::test]
async fn the_audit_chain_holds_every_call_and_names_the_first_altered_entry() {
    let system = System::start(Mode::Distributed).await.unwrap();
    let police = AgencySession::connect(&system, POLICE).await;
    let snoop = AgencySession::connect(&system, "police-620802-xijiao").await;
    let case_id = police.submit(dispute(Source::Police, "JQ-AUDIT-1")).await.unwrap().status.unwrap().case_id;
    police.status(&case_id).await.unwrap();
    assert_eq!(snoop.status(&case_id).await.unwrap_err().code(), Code::NotFound);

    // Who called about the case, with what result (what a party may ask under PIPL).
    let (ok, calls) = cli(&system, &["audit", "case", &case_id]);
    assert!(ok, "{calls}");
    let lines: Vec<&str> = calls.lines().collect();
    assert_eq!(lines.len(), 3, "{calls}");
    assert!(lines[0].contains(POLICE) && lines[0].contains("SubmitDispute") && lines[0].contains("Ok"), "{calls}");
    assert!(lines[2].contains("police-620802-xijiao") && lines[2].contains("NotFound"), "{calls}");

    let (ok, verdict) = cli(&system, &["audit", "verify"]);
    assert!(ok && verdict.contains("intact"), "{verdict}");

    // Someone with database access rewrites history: the snoop's call becomes the owner's.
    let mut db = sqlx::PgConnection::connect(&system.database_url().unwrap()).await.unwrap();
    let seq: i64 = sqlx::query_scalar("SELECT seq FROM gateway.audit_log WHERE agency_id = 'police-620802-xijiao'")
        .fetch_one(&mut db)
        .await
        .unwrap();
    sqlx::query("UPDATE gateway.audit_log SET agency_id = $1, code = 0 WHERE seq = $2")
        .bind(POLICE)
        .bind(seq)
        .execute(&mut db)
        .await
        .unwrap();
    let (ok, verdict) = cli(&system, &["audit", "verify"]);
    assert!(!ok, "a tampered chain must fail: {verdict}");
    assert!(verdict.contains(&format!("broken at entry {seq}")), "{verdict}");
    system.finish().await;
}

#[tokio::test]
async fn a_retried_call_with_its_idempotency_key_gets_the_first_answer() {
    let system = System::start(Mode::Standalone).await.unwrap();
    let police = AgencySession::connect(&system, POLICE).await;
    let case_id = police.submit(dispute(Source::Police, "JQ-IDEM-1")).await.unwrap().status.unwrap().case_id;
    police.wait_for(&case_id, "RECEIVED", in_state(ReferralState::Received)).await;
    let token = system.token(POLICE);
    let client = AgencyServiceClient::new(fengqiao_tests::channel(system.addr("gateway")).await.unwrap());
    let revoke = |reason: &str, key: &str| {
        let mut r =
            tonic::Request::new(RevokeReferralRequest { case_id: case_id.clone(), reason: reason.into(), if_state: 0 });
        r.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
        if !key.is_empty() {
            r.metadata_mut().insert("idempotency-key", key.parse().unwrap());
        }
        let mut client = client.clone();
        async move { client.revoke_referral(r).await.map(|a| a.into_inner().status.unwrap()) }
    };
    let first = revoke("报警人已自行和解", "k-1").await.unwrap();
    assert_eq!(first.referral_state, ReferralState::Cancelled as i32);
    // The same call again (a lost answer, say): the first answer, nothing done twice.
    let again = revoke("报警人已自行和解", "k-1").await.unwrap();
    assert_eq!(again, first);
    // Without the key the retry is a new request, and the referral is no longer open.
    assert_eq!(revoke("报警人已自行和解", "").await.unwrap_err().code(), Code::FailedPrecondition);
    // The same key with another request: refused, naming the key.
    let reused = revoke("另一个理由", "k-1").await.unwrap_err();
    assert_eq!(reused.code(), Code::InvalidArgument);
    assert_eq!(fengqiao_platform::status::violations(&reused)[0].field, "idempotency-key");

    // The HTTP face takes the same key as a header.
    let http = fengqiao_tests::http_client();
    let url = format!("http://{}/v1/cases/{case_id}:revoke", system.addr("gateway"));
    let body = serde_json::json!({"reason": "报警人已自行和解"});
    let answer = http.post(&url).bearer_auth(&token).header("Idempotency-Key", "k-1").json(&body).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let json: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(json["status"]["referralState"], "REFERRAL_STATE_CANCELLED");
    system.finish().await;
}

#[tokio::test]
async fn a_key_claimed_by_a_call_that_died_is_taken_over_once_no_call_could_still_run() {
    let system = System::start(Mode::Distributed).await.unwrap();
    let police = AgencySession::connect(&system, POLICE).await;
    let case_id = police.submit(dispute(Source::Police, "JQ-IDEM-2")).await.unwrap().status.unwrap().case_id;
    police.wait_for(&case_id, "RECEIVED", in_state(ReferralState::Received)).await;
    let request =
        RevokeReferralRequest { case_id: case_id.clone(), reason: "报警人已自行和解".into(), if_state: 0 };
    let hash = fengqiao_gateway::idempotency::fingerprint("RevokeReferral", &prost::Message::encode_to_vec(&request));
    // Two claims nobody answered, as a gateway killed mid-call leaves them: one
    // older than any call may run (the deadline is 30 s), one just made.
    let mut db = sqlx::PgConnection::connect(&system.database_url().unwrap()).await.unwrap();
    let now = fengqiao_platform::db::now_micros();
    for (key, at) in [("k-died", now - 600_000_000), ("k-running", now)] {
        sqlx::query(
            "INSERT INTO gateway.idempotency_keys (agency_id, idempotency_key, method, request_hash, response, created_at)
             VALUES ($1, $2, 'RevokeReferral', $3, NULL, $4)",
        )
        .bind(POLICE)
        .bind(key)
        .bind(&hash)
        .bind(at)
        .execute(&mut db)
        .await
        .unwrap();
    }
    let token = system.token(POLICE);
    let client = AgencyServiceClient::new(fengqiao_tests::channel(system.addr("gateway")).await.unwrap());
    let revoke = |key: &'static str| {
        let mut r = tonic::Request::new(request.clone());
        r.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
        r.metadata_mut().insert("idempotency-key", key.parse().unwrap());
        let mut client = client.clone();
        async move { client.revoke_referral(r).await.map(|a| a.into_inner().status.unwrap()) }
    };
    let running = revoke("k-running").await.unwrap_err();
    assert_eq!(running.code(), Code::Aborted, "a claim that may still be running is left alone: {running:?}");
    let taken = revoke("k-died").await.unwrap();
    assert_eq!(
        taken.referral_state,
        ReferralState::Cancelled as i32,
        "the dead call's key is taken over and the call runs"
    );
    assert_eq!(revoke("k-died").await.unwrap(), taken, "and its answer is kept for the next retry");
    system.finish().await;
}

#[tokio::test]
async fn the_centre_reads_every_call_about_a_case_and_no_other_kind_may() {
    let system = System::start(Mode::Standalone).await.unwrap();
    let police = AgencySession::connect(&system, POLICE).await;
    let snoop = AgencySession::connect(&system, "police-620802-xijiao").await;
    let case_id = police.submit(dispute(Source::Police, "JQ-AUDIT-CALLS")).await.unwrap().status.unwrap().case_id;
    police.status(&case_id).await.unwrap();
    assert_eq!(snoop.status(&case_id).await.unwrap_err().code(), Code::NotFound);

    let centre = AgencySession::connect(&system, CENTRE).await;
    let calls = centre.case_calls(&case_id).await.unwrap();
    let seen: Vec<(&str, &str, &str)> =
        calls.iter().map(|c| (c.agency_id.as_str(), c.method.as_str(), c.code.as_str())).collect();
    assert_eq!(
        seen,
        [
            (POLICE, "SubmitDispute", "OK"),
            (POLICE, "GetStatus", "OK"),
            ("police-620802-xijiao", "GetStatus", "NOT_FOUND")
        ]
    );
    assert!(calls.iter().all(|c| !c.agency_name.is_empty() && c.at.is_some() && !c.request_id.is_empty()), "{calls:?}");
    // Reading the trail is itself a call about the case.
    let again = centre.case_calls(&case_id).await.unwrap();
    assert_eq!((again.len(), again[3].agency_id.as_str(), again[3].method.as_str()), (4, CENTRE, "ListCaseCalls"));

    let denied = police.case_calls(&case_id).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    assert!(denied.message().contains("centre"), "{}", denied.message());
    assert_eq!(centre.case_calls("no-such-case").await.unwrap_err().code(), Code::NotFound);
    system.finish().await;
}

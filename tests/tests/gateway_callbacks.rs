//! Status back to agencies over HTTP: polling ListStatusChanges, and signed
//! callbacks posted to a real HTTP receiver — retried with backoff, dead-lettered
//! after the configured attempts, and flowing on after a dead letter.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fengqiao_tests::http::{police_dispute, Http};
use fengqiao_tests::scenario::*;
use fengqiao_tests::system::{Mode, System};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::Method;
use serde_json::{json, Value};

/// One POST the receiver got, and what it answered.
#[derive(Clone)]
struct Post {
    timestamp: String,
    signature: String,
    delivery: String,
    body: Vec<u8>,
    answered: u16,
}

/// An agency's callback receiver: fails the next `fail` posts with 500 (`u32::MAX`: all).
#[derive(Clone, Default)]
struct Receiver {
    posts: Arc<Mutex<Vec<Post>>>,
    fail: Arc<AtomicU32>,
}

impl Receiver {
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let me = self.clone();
        let app = axum::Router::new().route(
            "/hooks/fengqiao",
            axum::routing::post(move |headers: http::HeaderMap, body: axum::body::Bytes| {
                let me = me.clone();
                async move {
                    let failing = me.fail.load(Ordering::SeqCst);
                    let answered = if failing == 0 {
                        200
                    } else {
                        if failing != u32::MAX {
                            me.fail.store(failing - 1, Ordering::SeqCst);
                        }
                        500
                    };
                    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_string()).unwrap();
                    me.posts.lock().unwrap().push(Post {
                        timestamp: header("fengqiao-timestamp"),
                        signature: header("fengqiao-signature"),
                        delivery: header("fengqiao-delivery"),
                        body: body.to_vec(),
                        answered,
                    });
                    http::StatusCode::from_u16(answered).unwrap()
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/hooks/fengqiao")
    }

    fn posts(&self) -> Vec<Post> {
        self.posts.lock().unwrap().clone()
    }

    /// Waits until a post answered `answered` carries a change of `case_id`.
    async fn wait_for_case(&self, case_id: &str, answered: u16) -> Post {
        for _ in 0..300 {
            let found = self
                .posts()
                .into_iter()
                .find(|p| p.answered == answered && String::from_utf8_lossy(&p.body).contains(case_id));
            if let Some(post) = found {
                return post;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no post answered {answered} carried case {case_id}");
    }
}

/// The receiver's check, written from the guide rather than from the gateway's code.
fn signature_holds(secret: &str, post: &Post) -> bool {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{}.", post.timestamp).as_bytes());
    mac.update(&post.body);
    let expected = format!("v1={}", hex::encode(mac.finalize().into_bytes()));
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    expected == post.signature && (now - post.timestamp.parse::<i64>().unwrap()).abs() < 300
}

fn cursors(body: &Value) -> Vec<i64> {
    let changes = body["changes"].as_array().cloned().unwrap_or_default();
    changes.iter().map(|c| c["cursor"].as_str().unwrap().parse().unwrap()).collect()
}

async fn submit(http: &Http, external_ref: &str) -> String {
    let (code, answer) = http.call(Method::POST, "/v1/disputes", Some(police_dispute(external_ref))).await;
    assert_eq!(code, 200, "{answer}");
    answer["status"]["caseId"].as_str().unwrap().to_string()
}

/// Every change of the agency, polled a page of `page_size` at a time.
async fn poll_all(http: &Http, after: &str, page_size: u32) -> Vec<i64> {
    let (mut cursor, mut all) = (after.to_string(), Vec::new());
    loop {
        let path = format!("/v1/status-changes?cursor={cursor}&pageSize={page_size}");
        let (code, page) = http.call(Method::GET, &path, None).await;
        assert_eq!(code, 200, "{page}");
        let got = cursors(&page);
        if got.is_empty() {
            assert_eq!(page["nextCursor"].as_str().unwrap_or("0"), if cursor.is_empty() { "0" } else { &cursor });
            return all;
        }
        cursor = page["nextCursor"].as_str().unwrap().to_string();
        assert_eq!(cursor, got.last().unwrap().to_string());
        all.extend(got);
    }
}

#[tokio::test]
async fn callbacks_are_signed_retried_dead_lettered_and_flow_on() {
    let system = System::start_with(
        Mode::Standalone,
        &[
            ("FENGQIAO_AGENCY_API__CALLBACK_ALLOW_HTTP", "true"),
            ("FENGQIAO_AGENCY_API__CALLBACK_BACKOFF_MS", "100"),
            ("FENGQIAO_AGENCY_API__CALLBACK_MAX_ATTEMPTS", "3"),
        ],
    )
    .await
    .unwrap();
    let http = Http::new(&system, POLICE);
    let receiver = Receiver::default();
    let url = receiver.start().await;

    let (code, set) = http.call(Method::PUT, "/v1/callback", Some(json!({"url": url}))).await;
    assert_eq!(code, 200, "{set}");
    let secret = set["secret"].as_str().unwrap().to_string();
    assert_eq!(secret.len(), 64);
    // Replacing the URL keeps the secret (it is not shown again) unless asked to rotate it.
    let (_, again) = http.call(Method::PUT, "/v1/callback", Some(json!({"url": url}))).await;
    assert!(again.get("secret").is_none(), "{again}");

    // Two failures, then the receiver takes it: the same delivery, retried, every try signed.
    receiver.fail.store(2, Ordering::SeqCst);
    let first = submit(&http, "JQ-CB-1").await;
    let taken = receiver.wait_for_case(&first, 200).await;
    let tries: Vec<Post> = receiver.posts().into_iter().filter(|p| p.delivery == taken.delivery).collect();
    assert_eq!(tries.iter().map(|p| p.answered).collect::<Vec<_>>(), [500, 500, 200]);
    assert!(tries.iter().all(|p| signature_holds(&secret, p)), "every try is signed");
    let mut forged = taken.clone();
    forged.body = forged.body.iter().map(|b| if *b == b'1' { b'2' } else { *b }).collect();
    assert!(!signature_holds(&secret, &forged), "a changed body fails the check");
    let body: Value = serde_json::from_slice(&taken.body).unwrap();
    assert_eq!(body["changes"][0]["status"]["caseId"], first.as_str());
    assert_eq!(body["nextCursor"].as_str().unwrap(), cursors(&body).last().unwrap().to_string());

    // Once the case settles, the posts taken hold every change once, in order, as polling reads them.
    let grpc = AgencySession::connect(&system, POLICE).await;
    grpc.wait_for(&first, "RECEIVED", in_state(fengqiao_proto::fengqiao::common::v1::ReferralState::Received)).await;
    let polled = poll_all(&http, "", 1).await;
    let streamed: Vec<i64> =
        grpc.watch("", polled.len(), Duration::from_secs(10)).await.iter().map(|c| c.cursor.parse().unwrap()).collect();
    assert_eq!(polled, streamed, "polling and the gRPC stream give the same changes and cursors");
    let mut delivered = Vec::new();
    for _ in 0..100 {
        delivered = receiver
            .posts()
            .iter()
            .filter(|p| p.answered == 200)
            .flat_map(|p| cursors(&serde_json::from_slice(&p.body).unwrap()))
            .collect();
        if delivered.len() >= polled.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(delivered, polled, "no change lost, none delivered twice");

    // A receiver that keeps failing: after three attempts the batch is dead-lettered ...
    receiver.fail.store(u32::MAX, Ordering::SeqCst);
    let second = submit(&http, "JQ-CB-2").await;
    let mut dead = Value::Null;
    for _ in 0..100 {
        let (_, list) = http.call(Method::GET, "/v1/callback/dead-letters", None).await;
        if list["deadLetters"].as_array().is_some_and(|d| !d.is_empty()) {
            dead = list["deadLetters"][0].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(dead["attempts"], 3, "{dead}");
    assert_eq!(dead["lastError"], "the receiver answered HTTP 500");
    // ... and what it held can be read again from its cursor.
    let missed = poll_all(&http, dead["afterCursor"].as_str().unwrap(), 100).await;
    assert!(missed.contains(&dead["lastCursor"].as_str().unwrap().parse().unwrap()));
    let (_, callback) = http.call(Method::GET, "/v1/callback", None).await;
    assert!(callback["callback"]["deadLetters"].as_u64().unwrap() >= 1, "{callback}");

    // The receiver recovers: later changes flow on without waiting for the dead ones.
    receiver.fail.store(0, Ordering::SeqCst);
    let third = submit(&http, "JQ-CB-3").await;
    receiver.wait_for_case(&third, 200).await;
    assert_ne!(second, third);

    // Deleting stops callbacks; reading the callback then says how to register one.
    let (code, _) = http.call(Method::DELETE, "/v1/callback", None).await;
    assert_eq!(code, 200);
    let (code, error) = http.call(Method::GET, "/v1/callback", None).await;
    assert_eq!(code, 404);
    assert!(error["message"].as_str().unwrap().contains("SetCallback"), "{error}");
    system.finish().await;
}

#[tokio::test]
async fn a_plain_http_callback_is_refused_where_the_operator_has_not_allowed_it() {
    let system = System::start(Mode::Standalone).await.unwrap();
    let http = Http::new(&system, POLICE);
    let (code, error) =
        http.call(Method::PUT, "/v1/callback", Some(json!({"url": "http://agency.example/hook"}))).await;
    assert_eq!(code, 400, "{error}");
    assert_eq!(error["details"][0]["fieldViolations"][0]["field"], "url");
    let (code, _) = http.call(Method::GET, "/v1/callback", None).await;
    assert_eq!(code, 404, "nothing was registered");
    system.finish().await;
}

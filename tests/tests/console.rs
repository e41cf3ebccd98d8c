//! The console through the real processes: staff sign in with accounts made
//! by `fengqiao accounts add`, find a police case in the village committee's
//! inbox, accept it, start and conclude it with an agreement — and the police
//! station sees it completed. A mediator of another organisation cannot open
//! it; forms without the session's token change nothing; wrong passwords are
//! refused and then throttled; every step is in the console's audit log.

use std::time::Duration;

use fengqiao_proto::fengqiao::common::v1::{MediationOutcome, ReferralState, Source};
use fengqiao_tests::console::{add_account, Browser};
use fengqiao_tests::scenario::*;
use fengqiao_tests::system::{Mode, System};

/// Waits until the village inbox page lists `case_no`; the page.
async fn inbox_listing(browser: &mut Browser, case_no: &str) -> fengqiao_tests::console::Page {
    for _ in 0..100 {
        let page = browser.get("/inbox").await;
        assert_eq!(page.status, 200, "{}", page.html);
        if page.html.contains(case_no) {
            return page;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{case_no} never reached the village committee's inbox");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mediator_signs_in_and_takes_a_police_case_to_an_agreement_in_the_console() {
    let system = System::start(Mode::Distributed).await.unwrap();
    let password = add_account(&system, "li.mediator", "mediator", VILLAGE_ORG);
    let other = add_account(&system, "zhao.township", "mediator", TOWNSHIP_ORG);
    let clerk = add_account(&system, "wang.clerk", "clerk", VILLAGE_ORG);
    let police = AgencySession::connect(&system, POLICE).await;
    let submitted = police.submit(dispute(Source::Police, "JQ-console-1")).await.unwrap().status.unwrap();

    // Signed out, every page sends to the sign-in form.
    let mut li = Browser::new(&system);
    let page = li.get("/inbox").await;
    assert_eq!((page.status, page.location.as_deref()), (303, Some("/login?expired=1")));
    let form = li.get("/login").await;
    assert!(form.html.contains("<html lang=\"zh-CN\">") && form.html.contains("登录"), "{}", form.html);
    assert!(form.csp.contains("frame-ancestors 'none'"), "no other site may frame the console: {}", form.csp);

    let signed = li.sign_in("li.mediator", &password).await;
    assert_eq!((signed.status, signed.location.as_deref()), (303, Some("/inbox")), "{}", signed.html);
    let inbox = inbox_listing(&mut li, &submitted.case_no).await;
    assert!(inbox.html.contains("东关村调解员") || inbox.html.contains("li.mediator"));
    let link = inbox.referral_link().expect("a link to the referral");
    let referral_id = link.trim_start_matches("/referrals/").to_string();

    // Another organisation's mediator finds nothing there, and cannot act on it.
    let mut zhao = Browser::new(&system);
    assert_eq!(zhao.sign_in("zhao.township", &other).await.status, 303);
    assert!(!zhao.get("/inbox").await.html.contains(&submitted.case_no));
    let theirs = zhao.get(&link).await;
    assert_eq!(theirs.status, 404, "{}", theirs.html);
    assert!(theirs.html.contains("找不到这个案件"), "the page says what to do: {}", theirs.html);
    let csrf = zhao.get("/inbox").await.csrf();
    assert_eq!(zhao.post(&format!("{link}/accept"), &[("csrf", &csrf)]).await.status, 404);

    // A clerk sees the referral but has no steps to take.
    let mut wang = Browser::new(&system);
    assert_eq!(wang.sign_in("wang.clerk", &clerk).await.status, 303);
    let seen = wang.get(&link).await;
    assert_eq!(seen.status, 200);
    assert!(!seen.html.contains("/accept\""), "a clerk is offered no step");
    let csrf = seen.csrf();
    assert_eq!(wang.post(&format!("{link}/accept"), &[("csrf", &csrf)]).await.status, 403);

    // A form without the session's token changes nothing.
    let page = li.get(&link).await;
    assert!(page.html.contains("data-state=\"2\""), "RECEIVED: {}", page.html);
    assert_eq!(li.post(&format!("{link}/accept"), &[("csrf", "forged")]).await.status, 403);
    assert!(li.get(&link).await.html.contains("data-state=\"2\""), "still RECEIVED");

    // Accept, start, conclude with an agreement.
    let csrf = page.csrf();
    let accepted = li.post(&format!("{link}/accept"), &[("csrf", &csrf)]).await;
    assert_eq!(accepted.status, 200, "{}", accepted.html);
    assert!(accepted.html.contains("data-state=\"3\"") && accepted.html.contains("已办理"), "{}", accepted.html);
    let started = li.post(&format!("{link}/start"), &[("csrf", &csrf)]).await;
    assert!(started.html.contains("data-state=\"5\""), "{}", started.html);
    let bad = li
        .post(
            &format!("{link}/conclude"),
            &[
                ("csrf", &csrf),
                ("summary", "双方达成一致"),
                ("terms", "赔偿修缮费"),
                ("amount", "12,00"),
                ("deadline", "2027-01-31"),
            ],
        )
        .await;
    assert_eq!(bad.status, 400, "a malformed amount is refused: {}", bad.html);
    assert!(bad.html.contains("amount") && bad.html.contains("请修改"), "{}", bad.html);
    let deadline = (time::OffsetDateTime::now_utc().date() + time::Duration::days(30)).to_string();
    let concluded = li
        .post(
            &format!("{link}/conclude"),
            &[
                ("csrf", &csrf),
                ("summary", "双方达成一致"),
                ("terms", "李四承担修缮费用\n双方互不追究"),
                ("amount", "1200"),
                ("deadline", &deadline),
            ],
        )
        .await;
    assert_eq!(concluded.status, 200, "{}", concluded.html);
    assert!(concluded.html.contains("data-state=\"7\""), "COMPLETED: {}", concluded.html);

    // The police station sees the agreement.
    let status = police
        .wait_for(&submitted.case_id, "COMPLETED", |s| {
            s.referral_state == ReferralState::Completed as i32 && s.outcome == MediationOutcome::Agreement as i32
        })
        .await;
    assert_eq!(status.case_no, submitted.case_no);

    // Every step is attributed to its username.
    let pool = sqlx::PgPool::connect(&system.database_url().unwrap()).await.unwrap();
    let steps: Vec<(String, String, String)> =
        sqlx::query_as("SELECT username, action, outcome FROM console.console_audit WHERE target = $1 ORDER BY at")
            .bind(&referral_id)
            .fetch_all(&pool)
            .await
            .unwrap();
    let ok: Vec<(&str, &str)> =
        steps.iter().filter(|(_, _, o)| o == "ok").map(|(u, a, _)| (u.as_str(), a.as_str())).collect();
    assert_eq!(ok, [("li.mediator", "accept"), ("li.mediator", "start"), ("li.mediator", "conclude")], "{steps:?}");
    assert!(steps.iter().any(|(u, a, o)| u == "zhao.township" && a == "accept" && o == "NotFound"), "{steps:?}");
    assert!(steps.iter().any(|(u, _, o)| u == "li.mediator" && o == "csrf refused"), "{steps:?}");

    // Signing out ends the session.
    let csrf = li.get("/inbox").await.csrf();
    assert_eq!(li.post("/logout", &[("csrf", &csrf)]).await.location.as_deref(), Some("/login"));
    assert_eq!(li.get("/inbox").await.status, 303);
    system.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_are_refused_then_throttled_english_on_request_and_demo_accounts_in_standalone() {
    let system = System::start(Mode::Standalone).await.unwrap();
    let password = add_account(&system, "li.mediator", "mediator", VILLAGE_ORG);
    let mut browser = Browser::new(&system);
    let en = browser.get("/login?lang=en").await;
    assert!(en.html.contains("<html lang=\"en\">") && en.html.contains("Sign in"), "{}", en.html);
    let refused = browser.sign_in("li.mediator", "not-the-password").await;
    assert_eq!(refused.status, 401);
    assert!(refused.html.contains("ask an administrator to reset it"), "English stays chosen: {}", refused.html);
    assert!(!refused.html.contains("not-the-password"), "the password is never echoed");
    let unknown = browser.sign_in("nobody", "x").await;
    assert_eq!(unknown.status, 401, "an unknown name is refused the same way");
    for _ in 0..4 {
        browser.sign_in("li.mediator", "guess").await;
    }
    let throttled = browser.sign_in("li.mediator", &password).await;
    assert_eq!(throttled.status, 429, "after five failures even the right password waits: {}", throttled.html);
    assert!(throttled.html.contains("15 minutes"), "{}", throttled.html);

    // A first look needs no set-up: standalone made demo accounts, their passwords in a private file.
    let file = system.dir().join("fengqiao-data/console-accounts.txt");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let listed = std::fs::read_to_string(&file).unwrap();
    let line = listed.lines().find(|l| l.starts_with("village-mediator ")).expect("a demo mediator");
    let demo_password = line.split_whitespace().nth(1).unwrap();
    let mut demo = Browser::new(&system);
    assert_eq!(demo.sign_in("village-mediator", demo_password).await.location.as_deref(), Some("/inbox"));
    assert_eq!(demo.get("/inbox").await.status, 200);
    system.finish().await;
}

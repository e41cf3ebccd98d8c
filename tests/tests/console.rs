//! The console through the real processes: staff sign in with accounts made
//! by `fengqiao accounts add`, find a police case in the village committee's
//! inbox, accept it, start and conclude it with an agreement — and the police
//! station sees it completed. A mediator of another organisation cannot open
//! it; forms without the session's token change nothing; wrong passwords are
//! refused and then throttled; every step is in the console's audit log.

use std::time::Duration;

use fengqiao_proto::fengqiao::common::v1::{MediationOutcome, ReferralState, Source};
use fengqiao_tests::console::{add_account, demo_password, inbox_listing, text_of, Browser};
use fengqiao_tests::scenario::*;
use fengqiao_tests::system::{Mode, System};

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
    // Accepting again is refused in the page's language, with the API's reason as the detail.
    let again = li.post(&format!("{link}/accept"), &[("csrf", &csrf)]).await;
    assert_eq!(again.status, 409, "{}", again.html);
    assert!(
        again.html.contains("案件已经有了新的进展") && again.html.contains("(说明: cannot accept"),
        "{}",
        again.html
    );
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
    let signed_in = demo.sign_in("village-mediator", demo_password).await;
    assert_eq!(signed_in.location.as_deref(), Some("/inbox"));
    let session = session_cookie(&signed_in);
    assert!(session.contains("HttpOnly") && !session.contains("Secure"), "plain http by default: {session}");
    assert_eq!(demo.get("/inbox").await.status, 200);
    system.finish().await;
}

/// The `Set-Cookie` header of the session cookie.
fn session_cookie(page: &fengqiao_tests::console::Page) -> String {
    page.set_cookies.iter().find(|c| c.starts_with("fq_session=")).cloned().expect("a session cookie")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_https_the_session_cookie_is_marked_secure() {
    let secure = [("FENGQIAO_CONSOLE_ACCESS__SECURE_COOKIES", "true")];
    let system = System::start_with(Mode::Standalone, &secure).await.unwrap();
    let password = add_account(&system, "li.mediator", "mediator", VILLAGE_ORG);
    let signed_in = Browser::new(&system).sign_in("li.mediator", &password).await;
    assert_eq!(signed_in.location.as_deref(), Some("/inbox"));
    let session = session_cookie(&signed_in);
    assert!(session.contains("; Secure") && session.contains("HttpOnly"), "{session}");
    system.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_walk_in_registered_at_the_counter_is_mediated_and_the_party_sees_it_completed() {
    let system = System::start(Mode::Standalone).await.unwrap();
    let mut clerk = Browser::new(&system);
    assert_eq!(clerk.sign_in("village-clerk", &demo_password(&system, "village-clerk")).await.status, 303);
    let form = clerk.get("/register").await;
    assert!(form.html.contains("value=\"620802001001\""), "the clerk's own village is the default place");
    let csrf = form.csrf();
    let reference_marker = "name=\"reference\" value=\"";
    let at = form.html.find(reference_marker).unwrap() + reference_marker.len();
    let reference = form.html[at..].split('"').next().unwrap().to_string();
    let walk_in = Source::WalkIn as i32;
    let category = fengqiao_proto::fengqiao::common::v1::Category::Neighbourhood as i32;
    let (walk_in, category) = (walk_in.to_string(), category.to_string());
    let mut fields = vec![
        ("csrf", csrf.as_str()),
        ("reference", reference.as_str()),
        ("source", walk_in.as_str()),
        ("category", category.as_str()),
        ("division_code", "620802001001"),
        ("narrative", "邻里因排水沟堵塞发生争执"),
        ("applicant", "张三"),
        ("applicant_phone", "13800138000"),
        ("respondent", "李四"),
    ];

    // A wrong field is named and nothing is registered; the form keeps what was typed.
    fields[4].1 = "999999999999";
    let refused = clerk.post("/register", &fields).await;
    assert_eq!(refused.status, 400, "{}", refused.html);
    assert!(refused.html.contains("dispute.location.division_code") && refused.html.contains("邻里因排水沟堵塞"));
    fields[4].1 = "620802001001";

    let receipt = clerk.post("/register", &fields).await;
    assert_eq!(receipt.status, 200, "{}", receipt.html);
    let (case_no, code) = (text_of(&receipt.html, "case_no"), text_of(&receipt.html, "code"));
    assert!(case_no.starts_with("620802-") && !code.is_empty(), "{case_no} {code}");
    // The same form sent twice (a double click) registers one case.
    assert_eq!(text_of(&clerk.post("/register", &fields).await.html, "case_no"), case_no);

    // The village mediator finds it and takes it to an agreement.
    let mut mediator = Browser::new(&system);
    mediator.sign_in("village-mediator", &demo_password(&system, "village-mediator")).await;
    let inbox = inbox_listing(&mut mediator, &case_no).await;
    let link = inbox.referral_link_of(&case_no).expect("a link to the referral");
    let csrf = mediator.get(&link).await.csrf();
    mediator.post(&format!("{link}/accept"), &[("csrf", &csrf)]).await;
    mediator.post(&format!("{link}/start"), &[("csrf", &csrf)]).await;
    let held = mediator
        .post(
            &format!("{link}/session"),
            &[("csrf", &csrf), ("place", "东关村调解室"), ("record", "双方陈述，同意疏通排水沟")],
        )
        .await;
    assert_eq!(held.status, 200, "{}", held.html);
    assert!(held.html.contains("东关村调解室 — 双方陈述，同意疏通排水沟"), "the session is on the page: {}", held.html);
    let deadline = (time::OffsetDateTime::now_utc().date() + time::Duration::days(30)).to_string();
    let done = mediator
        .post(
            &format!("{link}/conclude"),
            &[
                ("csrf", &csrf),
                ("summary", "疏通排水沟，费用平摊"),
                ("terms", "双方平摊疏通费用"),
                ("amount", "300"),
                ("deadline", &deadline),
            ],
        )
        .await;
    assert!(done.html.contains("data-state=\"7\""), "{}", done.html);
    // The case's story: its hand-off with routing's reason, its clock, the agreement's hash, who did what.
    for part in [
        "分派经过",
        "village-620802001001",
        "办理时限",
        "PEOPLES_MEDIATION",
        "id=\"agreement\"",
        "操作记录",
        "village-mediator · conclude",
    ] {
        assert!(done.html.contains(part), "{part} on the case's page: {}", done.html);
    }

    // The party, without an account, sees it completed; a wrong code shows nothing.
    let mut party = Browser::new(&system);
    let wrong = party.post("/progress", &[("case_no", &case_no), ("code", "000000")]).await;
    assert_eq!(wrong.status, 404, "{}", wrong.html);
    assert!(wrong.html.contains("核对回执") && !wrong.html.contains("id=\"progress\""));
    let seen = party.post("/progress", &[("case_no", &case_no), ("code", &code)]).await;
    assert_eq!(seen.status, 200, "{}", seen.html);
    assert!(seen.html.contains("data-state=\"7\"") && seen.html.contains("已办结"), "{}", seen.html);
    assert!(!seen.html.contains("张三") && !seen.html.contains("13800138000"), "no personal data on the party's page");

    // The county's supervisor counts the agreement on the figures dashboard; a mediator may not look.
    let mut supervisor = Browser::new(&system);
    supervisor.sign_in("county-supervisor", &demo_password(&system, "county-supervisor")).await;
    let mut counted = false;
    for _ in 0..50 {
        let dashboard = supervisor.get("/dashboard").await;
        assert_eq!(dashboard.status, 200, "{}", dashboard.html);
        if text_of(&dashboard.html, "agreements") == "1" {
            assert!(dashboard.html.contains("<svg"), "with its chart");
            counted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(counted, "the agreement reaches the county's figures");
    assert_eq!(supervisor.get("/alarms").await.status, 200);
    assert_eq!(mediator.get("/dashboard").await.status, 403, "figures are for supervisors");
    assert_eq!(mediator.get("/alarms").await.status, 403);
    system.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_adds_and_disables_accounts_and_a_head_reads_the_subsidy_statement() {
    let system = System::start(Mode::Standalone).await.unwrap();
    let mut admin = Browser::new(&system);
    admin.sign_in("admin", &demo_password(&system, "admin")).await;
    let page = admin.get("/accounts").await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains("village-mediator"), "the accounts are listed");

    // Added with a generated password, shown once.
    let csrf = page.csrf();
    let fields = [
        ("csrf", csrf.as_str()),
        ("username", "li.new"),
        ("name", "李新"),
        ("role", "mediator"),
        ("org_id", VILLAGE_ORG),
        ("jurisdiction", ""),
    ];
    let created = admin.post("/accounts", &fields).await;
    assert_eq!(created.status, 200, "{}", created.html);
    let password = text_of(&created.html, "password");
    assert_eq!(password.len(), 20);
    assert!(!admin.get("/accounts").await.html.contains(&password), "the password is shown only once");
    let bad = admin
        .post("/accounts", &[("csrf", &csrf), ("username", "x"), ("role", "mediator"), ("org_id", VILLAGE_ORG)])
        .await;
    assert_eq!(bad.status, 400, "a bad username is refused and says why: {}", bad.html);
    assert!(bad.html.contains("3 to 64"));

    let mut li = Browser::new(&system);
    assert_eq!(li.sign_in("li.new", &password).await.location.as_deref(), Some("/inbox"));
    assert_eq!(li.get("/accounts").await.status, 403, "only administrators manage accounts");

    // Disabled: the session ends at once and the password no longer opens one.
    let disabled = admin.post("/accounts/li.new/disable", &[("csrf", &csrf)]).await;
    assert_eq!(disabled.status, 200, "{}", disabled.html);
    assert_eq!(li.get("/inbox").await.status, 303);
    assert_eq!(li.sign_in("li.new", &password).await.status, 401);

    // The village committee's head reads the month's subsidy statement; a mediator may not.
    let mut head = Browser::new(&system);
    head.sign_in("village-head", &demo_password(&system, "village-head")).await;
    let statement = head.get("/subsidy").await;
    assert_eq!(statement.status, 200, "{}", statement.html);
    assert_eq!(text_of(&statement.html, "subsidy-cases"), "0");
    let mut mediator = Browser::new(&system);
    mediator.sign_in("village-mediator", &demo_password(&system, "village-mediator")).await;
    assert_eq!(mediator.get("/subsidy").await.status, 403);
    system.finish().await;
}

/// The console registers at the counter through a gateway that serves TLS
/// with client certificates (as the prod overlay runs it): over https, trusting
/// the CA of the gateway's certificate, authenticated by the centre's token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_counter_reaches_a_gateway_that_serves_tls_over_https() {
    let pki = tempfile::tempdir().unwrap();
    let dir = pki.path().to_str().unwrap().to_string();
    let out = fengqiao_tests::command(pki.path()).args(["credentials", "init-ca", "--dir", &dir]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (cert, key, ca) = (format!("{dir}/server.pem"), format!("{dir}/server.key"), format!("{dir}/ca.pem"));
    let port = fengqiao_tests::free_ports(1)[0];
    let (listen, endpoint) = (format!("127.0.0.1:{port}"), format!("https://localhost:{port}"));
    let system = System::start_with(
        Mode::Standalone,
        &[
            ("FENGQIAO_AUTH__TLS_CERT_FILE", &cert),
            ("FENGQIAO_AUTH__TLS_KEY_FILE", &key),
            ("FENGQIAO_AUTH__CLIENT_CA_FILE", &ca),
            ("FENGQIAO_GATEWAY__LISTEN", &listen),
            ("FENGQIAO_GATEWAY__ENDPOINT", &endpoint),
            ("FENGQIAO_CONSOLE_ACCESS__GATEWAY_CA_FILE", &ca),
        ],
    )
    .await
    .unwrap();
    let mut clerk = Browser::new(&system);
    clerk.sign_in("village-clerk", &demo_password(&system, "village-clerk")).await;
    let form = clerk.get("/register").await;
    let (walk_in, category) = ((Source::WalkIn as i32).to_string(), "1".to_string());
    let fields = [
        ("csrf", form.csrf()),
        ("reference", form.hidden("reference")),
        ("source", walk_in),
        ("category", category),
        ("division_code", "620802001001".into()),
        ("narrative", "邻里因排水沟堵塞发生争执".into()),
        ("applicant", "张三".into()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let receipt = clerk.post("/register", &fields).await;
    assert_eq!(receipt.status, 200, "{}", receipt.html);
    assert!(text_of(&receipt.html, "case_no").starts_with("620802-"), "{}", receipt.html);
    system.finish().await;
}

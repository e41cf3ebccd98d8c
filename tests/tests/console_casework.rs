//! The console's later steps through the real processes: an administrator
//! adds a mediator to the village committee in the directory; the committee's
//! head accepts a police case and assigns mediators from it; a session is
//! planned ahead and recorded when held; after the agreement, its performance
//! and the return visit are recorded — each through the mediation API, each
//! shown on the case's page. Roles without the step are refused.

use fengqiao_proto::fengqiao::common::v1::Source;
use fengqiao_tests::console::{demo_password, inbox_listing, Browser};
use fengqiao_tests::scenario::*;
use fengqiao_tests::system::{Mode, System};

/// The value of the first hidden field `name` on `page`.
async fn signed_in(system: &System, username: &str) -> Browser {
    fengqiao_tests::console::signed_in(system, username, &demo_password(system, username)).await
}

fn days_from_today(days: i64) -> time::Date {
    (time::OffsetDateTime::now_utc() + time::Duration::days(days)).to_offset(time::macros::offset!(+8)).date()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_head_assigns_directory_mediators_a_planned_session_is_held_and_the_agreement_followed_up() {
    let system = System::start(Mode::Standalone).await.unwrap();

    // The administrator adds a second mediator to the village committee; a wrong organisation is named.
    let mut admin = signed_in(&system, "admin").await;
    let directory = admin.get(&format!("/directory?org={VILLAGE_ORG}")).await;
    assert_eq!(directory.status, 200, "{}", directory.html);
    assert!(directory.html.contains("village-mediator"), "the demo mediator is listed: {}", directory.html);
    let csrf = directory.csrf();
    let mut mediator_form = vec![
        ("csrf", csrf.as_str()),
        ("org_id", VILLAGE_ORG),
        ("mediator_id", "village-second"),
        ("name", "东关村第二调解员"),
        ("specialties", "NEIGHBOURHOOD, MARRIAGE_FAMILY"),
        ("available", "on"),
    ];
    let saved = admin.post("/directory/mediators", &mediator_form).await;
    assert_eq!(saved.status, 200, "{}", saved.html);
    assert!(
        saved.html.contains("village-second") && saved.html.contains("NEIGHBOURHOOD, MARRIAGE_FAMILY"),
        "{}",
        saved.html
    );
    mediator_form[1].1 = "village-nowhere";
    let refused = admin.post("/directory/mediators", &mediator_form).await;
    assert_eq!(refused.status, 400, "{}", refused.html);
    assert!(refused.html.contains("mediator.org_id"), "the field is named: {}", refused.html);
    mediator_form[0].1 = "forged";
    assert_eq!(admin.post("/directory/mediators", &mediator_form).await.status, 403);
    // … and a mediator studio of its own; an impossible area code is named.
    let mut studio = vec![
        ("csrf", csrf.as_str()),
        ("org_id", "studio-620802001001-wang"),
        ("name", "王大姐调解工作室"),
        ("kind", "MEDIATOR_STUDIO"),
        ("level", "1"),
        ("division_code", "620802001001"),
        ("capacity", "20"),
        ("contact", "0933-0000000"),
    ];
    let added = admin.post("/directory/organisations", &studio).await;
    assert_eq!(added.status, 200, "{}", added.html);
    assert!(added.html.contains("id=\"opened\">王大姐调解工作室 · studio-620802001001-wang"), "{}", added.html);
    studio[5].1 = "12";
    let refused = admin.post("/directory/organisations", &studio).await;
    assert_eq!(refused.status, 400, "{}", refused.html);
    assert!(refused.html.contains("division_code"), "the field is named: {}", refused.html);

    // A police case reaches the village; the head accepts it and assigns the two mediators.
    let police = AgencySession::connect(&system, POLICE).await;
    let case_no = police.submit(dispute(Source::Police, "JQ-casework-1")).await.unwrap().status.unwrap().case_no;
    let mut head = signed_in(&system, "village-head").await;
    assert_eq!(head.get("/directory").await.status, 403, "the directory is the administrator's");
    let link = inbox_listing(&mut head, &case_no).await.referral_link().expect("a link to the referral");
    let csrf = head.get(&link).await.csrf();
    let accepted = head.post(&format!("{link}/accept"), &[("csrf", &csrf)]).await;
    assert!(
        accepted.html.contains("name=\"co_village-second\""),
        "the directory's mediators offered: {}",
        accepted.html
    );
    let assigned = head
        .post(&format!("{link}/assign"), &[("csrf", &csrf), ("lead", "village-second"), ("co_village-mediator", "on")])
        .await;
    assert_eq!(assigned.status, 200, "{}", assigned.html);
    assert!(assigned.html.contains("village-second, village-mediator"), "lead first: {}", assigned.html);

    // The village mediator may not assign, but plans a session and records it when held.
    let mut mediator = signed_in(&system, "village-mediator").await;
    let csrf = mediator.get(&link).await.csrf();
    let not_theirs = mediator.post(&format!("{link}/assign"), &[("csrf", &csrf), ("lead", "village-mediator")]).await;
    assert_eq!(not_theirs.status, 403, "{}", not_theirs.html);
    mediator.post(&format!("{link}/start"), &[("csrf", &csrf)]).await;
    let when = format!("{}T09:30", days_from_today(3));
    let bad = mediator
        .post(&format!("{link}/schedule"), &[("csrf", &csrf), ("scheduled_at", "next week"), ("place", "村部")])
        .await;
    assert_eq!(bad.status, 400, "{}", bad.html);
    assert!(bad.html.contains("scheduled_at"), "{}", bad.html);
    let planned = mediator
        .post(&format!("{link}/schedule"), &[("csrf", &csrf), ("scheduled_at", &when), ("place", "东关村村部")])
        .await;
    assert_eq!(planned.status, 200, "{}", planned.html);
    assert!(planned.html.contains("id=\"planned\"") && planned.html.contains("09:30 东关村村部"), "{}", planned.html);
    let session_id = planned.hidden("session_id");
    // The party is away that day: the session moves, with the reason (required).
    let later = format!("{}T14:00", days_from_today(4));
    let no_reason = mediator
        .post(&format!("{link}/reschedule"), &[("csrf", &csrf), ("session_id", &session_id), ("scheduled_at", &later)])
        .await;
    assert_eq!(no_reason.status, 400, "{}", no_reason.html);
    let moved = mediator
        .post(
            &format!("{link}/reschedule"),
            &[("csrf", &csrf), ("session_id", &session_id), ("scheduled_at", &later), ("reason", "当事人外出务工")],
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.html);
    assert!(moved.html.contains("14:00 东关村村部") && !moved.html.contains("09:30 东关村村部"), "{}", moved.html);
    let held = mediator
        .post(
            &format!("{link}/record"),
            &[("csrf", &csrf), ("session_id", &session_id), ("record", "双方同意赔偿并道歉")],
        )
        .await;
    assert_eq!(held.status, 200, "{}", held.html);
    assert!(held.html.contains("东关村村部 — 双方同意赔偿并道歉"), "{}", held.html);
    assert!(!held.html.contains("id=\"planned\""), "no longer planned");

    // The agreement, then its performance and the return visit.
    let deadline = days_from_today(30).to_string();
    let concluded = mediator
        .post(
            &format!("{link}/conclude"),
            &[
                ("csrf", &csrf),
                ("summary", "赔偿并道歉"),
                ("terms", "赔偿500元"),
                ("amount", "500"),
                ("deadline", &deadline),
            ],
        )
        .await;
    assert!(concluded.html.contains("data-state=\"7\"") && concluded.html.contains("待履行"), "{}", concluded.html);
    let today = days_from_today(0).to_string();
    let performed = mediator
        .post(&format!("{link}/performance"), &[("csrf", &csrf), ("state", "performed"), ("performed_on", &today)])
        .await;
    assert_eq!(performed.status, 200, "{}", performed.html);
    assert!(performed.html.contains("id=\"performance\">已履行"), "{}", performed.html);
    assert!(!performed.html.contains("/performance\""), "nothing left to record: {}", performed.html);
    let no_visit = mediator
        .post(
            &format!("{link}/visit"),
            &[("csrf", &csrf), ("visited_on", &today), ("method", "phone"), ("satisfaction", "9")],
        )
        .await;
    assert_eq!(no_visit.status, 400, "{}", no_visit.html);
    assert!(no_visit.html.contains("satisfaction"), "{}", no_visit.html);
    let visited = mediator
        .post(
            &format!("{link}/visit"),
            &[
                ("csrf", &csrf),
                ("visited_on", &today),
                ("method", "phone"),
                ("satisfaction", "5"),
                ("note", "双方满意"),
            ],
        )
        .await;
    assert_eq!(visited.status, 200, "{}", visited.html);
    assert!(
        visited.html.contains("id=\"visits\"") && visited.html.contains("电话 · 满意度（1–5） 5 · 双方满意"),
        "{}",
        visited.html
    );
    // Performed, but the file lacks the application and the investigation record: the subsidy waits.
    let subsidy = fengqiao_tests::console::text_of(&visited.html, "subsidy");
    assert!(
        subsidy.starts_with("以案定补: 难度等级 ") && subsidy.ends_with("暂不发放: 卷宗齐全后发放（见卷宗尚缺）"),
        "{subsidy}"
    );
    for who in ["village-head · assign", "village-mediator · schedule", "village-mediator · visit"] {
        assert!(visited.html.contains(who), "{who} in the case's story: {}", visited.html);
    }
    system.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grid_workers_photos_travel_as_fingerprints_to_the_receipt_and_the_mediators_page() {
    use sha2::Digest;
    let system = System::start(Mode::Standalone).await.unwrap();
    let mut worker = signed_in(&system, "village-clerk").await;
    let form = worker.get("/register").await;
    assert!(form.html.contains("enctype=\"multipart/form-data\"") && form.html.contains("name=\"photos\""));
    let (csrf, reference) = (form.csrf(), form.hidden("reference"));
    let grid = (fengqiao_proto::fengqiao::common::v1::Source::Grid as i32).to_string();
    let category = (fengqiao_proto::fengqiao::common::v1::Category::Neighbourhood as i32).to_string();
    let fields = [
        ("csrf", csrf.as_str()),
        ("reference", reference.as_str()),
        ("source", grid.as_str()),
        ("category", category.as_str()),
        ("division_code", "620802001001"),
        ("grid_id", "620802001001-G03"),
        ("address", "东关村三组"),
        ("narrative", "两户因院墙渗水发生争执"),
        ("applicant", "赵六"),
        ("applicant_phone", "13900139000"),
    ];
    let (one, two): (&[u8], &[u8]) = (b"first photo of the wall", b"second photo of the wall");
    // Two photos chosen, and the empty part a browser sends for an unused file field.
    let files = [
        ("photos", "墙面.jpg", "image/jpeg", one),
        ("photos", "院内.png", "image/png", two),
        ("photos", "", "application/octet-stream", b"" as &[u8]),
    ];
    let receipt = worker.post_multipart("/register", &fields, &files).await;
    assert_eq!(receipt.status, 200, "{}", receipt.html);
    let sha = |b: &[u8]| hex::encode(sha2::Sha256::digest(b));
    for line in [
        format!("墙面.jpg · image/jpeg · {} B · SHA-256 {}", one.len(), sha(one)),
        format!("院内.png · image/png · {} B · SHA-256 {}", two.len(), sha(two)),
    ] {
        // minijinja escapes `/` in text as `&#x2f;`.
        let line = line.replace('/', "&#x2f;");
        assert!(receipt.html.contains(&line), "{line} on the receipt: {}", receipt.html);
    }
    assert_eq!(receipt.html.matches("SHA-256").count(), 2, "the empty file part is no photo");
    let case_no = fengqiao_tests::console::text_of(&receipt.html, "case_no");

    // The village mediator sees the fingerprints on the referral page.
    let mut mediator = signed_in(&system, "village-mediator").await;
    let link = inbox_listing(&mut mediator, &case_no).await.referral_link().expect("a link");
    let page = mediator.get(&link).await;
    assert!(page.html.contains("id=\"attachments\"") && page.html.contains(&sha(one)), "{}", page.html);

    // A form cut off mid-way is refused with what to do, and registers nothing.
    let cut = worker
        .post_raw(
            "/register",
            "multipart/form-data; boundary=xyz",
            b"--xyz\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc".to_vec(),
        )
        .await;
    assert_eq!(cut.status, 400, "{}", cut.html);
    assert!(cut.html.contains("重新提交"), "{}", cut.html);
    system.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mediator_files_a_document_by_its_fingerprint_and_the_case_file_says_what_it_still_lacks() {
    let system = System::start(Mode::Standalone).await.unwrap();
    let (_, item, _) = police_case_under_way(&system, "JQ-casefile-1").await;

    let mut mediator = signed_in(&system, "village-mediator").await;
    let link = format!("/referrals/{}", item.referral_id);
    let page = mediator.get(&link).await;
    assert_eq!(
        fengqiao_tests::console::text_of(&page.html, "file-complete"),
        "卷宗尚缺：申请书或口头申请记录、调查记录、调解记录"
    );
    let csrf = page.csrf();
    let record: &[u8] = b"2026-12-02 observed the drain between the two houses";
    let fields = [("csrf", csrf.as_str()), ("kind", "investigation"), ("title", "现场调查笔录")];
    let no_file = mediator.post_multipart(&format!("{link}/documents"), &fields, &[]).await;
    assert_eq!(no_file.status, 400, "a document needs its file: {}", no_file.html);
    let files = [("document", "调查.pdf", "application/pdf", record)];
    let filed = mediator.post_multipart(&format!("{link}/documents"), &fields, &files).await;
    assert_eq!(filed.status, 200, "{}", filed.html);
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(record));
    assert!(filed.html.contains("现场调查笔录") && filed.html.contains(&sha), "{}", filed.html);
    assert_eq!(
        fengqiao_tests::console::text_of(&filed.html, "file-complete"),
        "卷宗尚缺：申请书或口头申请记录、调解记录"
    );

    // Another organisation's mediator cannot file into this case.
    let password = fengqiao_tests::console::add_account(&system, "zhao.township", "mediator", TOWNSHIP_ORG);
    let mut stranger = fengqiao_tests::console::signed_in(&system, "zhao.township", &password).await;
    let csrf = stranger.get("/inbox").await.csrf();
    let fields = [("csrf", csrf.as_str()), ("kind", "other"), ("title", "x")];
    assert_eq!(stranger.post_multipart(&format!("{link}/documents"), &fields, &files).await.status, 404);
    system.finish().await;
}

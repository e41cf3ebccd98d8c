//! Acting on an alarm in the console, through the real processes: from the
//! alarms board's case link, the county's supervisor makes a leader the case's
//! owner and issues a supervision notice to the village committee; the leader
//! acknowledges; the committee's head answers the notice on the referral page;
//! the supervisor sees the answer. Other roles and other jurisdictions are refused.

use fengqiao_proto::fengqiao::common::v1::Source;
use fengqiao_tests::console::{demo_password, inbox_listing, signed_in, text_of, Browser, Page};
use fengqiao_tests::scenario::*;
use fengqiao_tests::system::{Mode, System};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_names_an_owner_and_issues_a_notice_the_leader_acknowledges_and_the_village_answers() {
    let system = System::start(Mode::Standalone).await.unwrap();
    let police = AgencySession::connect(&system, POLICE).await;
    let status = police.submit(dispute(Source::Police, "JQ-supervise-1")).await.unwrap().status.unwrap();
    let page_of = format!("/cases/{}/supervision", status.case_id);

    let mut head = signed_in(&system, "village-head", &demo_password(&system, "village-head")).await;
    let link = inbox_listing(&mut head, &status.case_no).await.referral_link().expect("a link to the referral");
    assert_eq!(head.get(&page_of).await.status, 403, "supervision is for supervisors, leaders, administrators");

    let mut supervisor = signed_in(&system, "county-supervisor", &demo_password(&system, "county-supervisor")).await;
    let page = supervisor.get(&page_of).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains("尚未落实包案领导"), "{}", page.html);
    let csrf = page.csrf();
    let owned = supervisor.post(&format!("{page_of}/owner"), &[("csrf", &csrf), ("leader_id", "county-leader")]).await;
    assert_eq!(owned.status, 200, "{}", owned.html);
    assert_eq!(text_of(&owned.html, "owner-leader"), "county-leader");
    assert_eq!(text_of(&owned.html, "owner-acknowledged"), "未签收");
    let empty = supervisor.post(&format!("{page_of}/notice"), &[("csrf", &csrf), ("org_id", VILLAGE_ORG)]).await;
    assert_eq!(empty.status, 400, "a notice says what is demanded: {}", empty.html);
    let issued = supervisor
        .post(
            &format!("{page_of}/notice"),
            &[("csrf", &csrf), ("org_id", VILLAGE_ORG), ("demand", "三日内答复调处进展")],
        )
        .await;
    assert_eq!(issued.status, 200, "{}", issued.html);
    assert!(issued.html.contains("id=\"notices\"") && issued.html.contains("三日内答复调处进展"), "{}", issued.html);

    // The leader acknowledges ownership, but does not direct.
    let mut leader = signed_in(&system, "county-leader", &demo_password(&system, "county-leader")).await;
    let csrf = leader.get(&page_of).await.csrf();
    let refused =
        leader.post(&format!("{page_of}/notice"), &[("csrf", &csrf), ("org_id", VILLAGE_ORG), ("demand", "x")]).await;
    assert_eq!(refused.status, 403, "{}", refused.html);
    let acknowledged = leader.post(&format!("{page_of}/acknowledge"), &[("csrf", &csrf)]).await;
    assert_eq!(acknowledged.status, 200, "{}", acknowledged.html);
    assert_ne!(text_of(&acknowledged.html, "owner-acknowledged"), "未签收");

    // The village committee's head answers the notice on the referral page.
    let referral = head.get(&link).await;
    assert!(referral.html.contains("三日内答复调处进展") && referral.html.contains("/respond\""), "{}", referral.html);
    let notice_marker = "name=\"notice_id\" value=\"";
    let at = referral.html.find(notice_marker).unwrap() + notice_marker.len();
    let notice_id = referral.html[at..].split('"').next().unwrap().to_string();
    let csrf = referral.csrf();
    let answered = head
        .post(
            &format!("{link}/respond"),
            &[("csrf", &csrf), ("notice_id", &notice_id), ("response", "已受理，正在调解")],
        )
        .await;
    assert_eq!(answered.status, 200, "{}", answered.html);
    assert!(!answered.html.contains("/respond\""), "nothing left to answer: {}", answered.html);
    let seen = supervisor.get(&page_of).await;
    assert!(seen.html.contains("已受理，正在调解 — village-head"), "{}", seen.html);

    // A supervisor of another county finds no such case; a forged form changes nothing.
    let out = system.cli(&[
        "accounts",
        "add",
        "other.supervisor",
        "--role",
        "supervisor",
        "--org",
        "county-620802-centre",
        "--jurisdiction",
        "620803",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut other = signed_in(&system, "other.supervisor", String::from_utf8_lossy(&out.stdout).trim()).await;
    assert_eq!(other.get(&page_of).await.status, 404);
    let forged = supervisor.post(&format!("{page_of}/owner"), &[("csrf", "forged"), ("leader_id", "someone")]).await;
    assert_eq!(forged.status, 403);
    assert!(forged.html.contains("刷新"), "the page says to reload: {}", forged.html);
    assert_eq!(text_of(&supervisor.get(&page_of).await.html, "owner-leader"), "county-leader");
    system.finish().await;
}

async fn post_owned(browser: &mut Browser, path: &str, fields: &[(&str, String)]) -> Page {
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    browser.post(path, &fields).await
}

fn summon(csrf: &str, hours: &str) -> Vec<(&'static str, String)> {
    vec![
        ("csrf", csrf.to_string()),
        ("departments", "natural-resources-620802，civil-affairs-620802".into()),
        ("request", "核实宅基地边界并出具意见".into()),
        ("response_hours", hours.into()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_summons_departments_records_an_answer_and_the_dashboard_counts_each_department() {
    let system = System::start(Mode::Standalone).await.unwrap();
    let police = AgencySession::connect(&system, POLICE).await;
    let status = police.submit(dispute(Source::Police, "JQ-summons-1")).await.unwrap().status.unwrap();
    let page_of = format!("/cases/{}/supervision", status.case_id);
    let mut supervisor = signed_in(&system, "county-supervisor", &demo_password(&system, "county-supervisor")).await;
    let page = supervisor.get(&page_of).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains("本案尚未吹哨"), "{}", page.html);
    let csrf = page.csrf();
    let refused = post_owned(&mut supervisor, &format!("{page_of}/summon"), &summon(&csrf, "三天")).await;
    assert_eq!(refused.status, 400, "{}", refused.html);
    assert!(refused.html.contains("response_hours"), "{}", refused.html);
    let summoned = post_owned(&mut supervisor, &format!("{page_of}/summon"), &summon(&csrf, "72")).await;
    assert_eq!(summoned.status, 200, "{}", summoned.html);
    assert!(summoned.html.contains("id=\"summons\""), "{}", summoned.html);
    assert_eq!(summoned.html.matches("核实宅基地边界并出具意见").count(), 2, "one request per department");

    // The natural resources bureau answers (by letter); the supervisor records it.
    let (assistance_id, department) = (summoned.hidden("assistance_id"), summoned.hidden("department"));
    let answer = [("csrf", &csrf), ("assistance_id", &assistance_id), ("department", &department)];
    let mut answer: Vec<(&str, String)> = answer.iter().map(|(k, v)| (*k, v.to_string())).collect();
    answer.push(("response", "已派员现场核实".into()));
    let answered = post_owned(&mut supervisor, &format!("{page_of}/summons_answer"), &answer).await;
    assert_eq!(answered.status, 200, "{}", answered.html);
    assert!(answered.html.contains("已派员现场核实 — "), "{}", answered.html);
    assert_eq!(answered.html.matches("/summons_answer\"").count(), 1, "one request left to answer");

    // The dashboard counts each department for this month.
    let dashboard = supervisor.get("/dashboard").await;
    assert!(dashboard.html.contains("id=\"departments\""), "{}", dashboard.html);
    let row = dashboard.html.split("<tr>").find(|r| r.contains(&department)).unwrap_or_default().to_string();
    assert!(row.contains("<td>1</td><td>1</td><td>0</td><td>100.0%</td>"), "{row}");

    // A leader does not summon.
    let mut leader = signed_in(&system, "county-leader", &demo_password(&system, "county-leader")).await;
    let csrf = leader.get(&page_of).await.csrf();
    assert_eq!(post_owned(&mut leader, &format!("{page_of}/summon"), &summon(&csrf, "72")).await.status, 403);
    system.finish().await;
}

//! Joint mediation and judicial confirmation from the console, through the
//! real processes: the village committee's head invites the township's and
//! the county's committees; the township's mediator finds the invitation in
//! the inbox (the case itself stays closed to it until it joins) and joins;
//! the county's declines with a reason; the head sees both answers. After the
//! agreement, the head files the parties' joint application for judicial
//! confirmation; the court accepts and confirms it through the gateway, and
//! the page shows the agreement enforceable.

use std::time::Duration;

use fengqiao_proto::fengqiao::common::v1::MediationOutcome;
use fengqiao_tests::console::{add_account, demo_password, inbox_listing, signed_in, text_of, Browser, Page};
use fengqiao_tests::scenario::*;
use fengqiao_tests::system::{Mode, System};

/// The referral page once `done` holds of it (events travel between the processes).
async fn page_when(browser: &mut Browser, link: &str, what: &str, done: impl Fn(&Page) -> bool) -> Page {
    for _ in 0..100 {
        let page = browser.get(link).await;
        if done(&page) {
            return page;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the referral page never showed {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_invites_committees_one_joins_one_declines_and_the_agreement_is_confirmed_by_the_court() {
    let system = System::start(Mode::Standalone).await.unwrap();
    let (status, item, village) = police_case_under_way(&system, "JQ-console-joint-1").await;

    let mut head = signed_in(&system, "village-head", &demo_password(&system, "village-head")).await;
    let link = format!("/referrals/{}", item.referral_id);
    let page = head.get(&link).await;
    assert!(page.html.contains("id=\"invite-org\"") && page.html.contains(&format!("value=\"{TOWNSHIP_ORG}\"")));
    assert!(!page.html.contains(&format!("<option value=\"{VILLAGE_ORG}\"")), "the lead does not invite itself");
    // The story includes every agency's call about the case (the gateway's audit log, read as the centre).
    let police_call = format!("({POLICE}) · SubmitDispute</td><td>OK");
    assert!(page.html.contains("各机关调用记录") && page.html.contains(&police_call), "{}", page.html);
    assert!(!page.html.contains("· ListCaseCalls"), "the console's own readings are not the story: {}", page.html);
    let csrf = page.csrf();
    let invite =
        |org: &'static str| [("csrf", csrf.clone()), ("org_id", org.into()), ("reason", "涉及土地边界".into())];
    let no_reason = [("csrf", csrf.as_str()), ("org_id", TOWNSHIP_ORG), ("reason", "")];
    let refused = head.post(&format!("{link}/invite"), &no_reason).await;
    assert_eq!(refused.status, 400, "an invitation says why: {}", refused.html);
    for org in [TOWNSHIP_ORG, COUNTY_ORG] {
        let fields = invite(org);
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let invited = head.post(&format!("{link}/invite"), &fields).await;
        assert_eq!(invited.status, 200, "{}", invited.html);
    }
    let page = head.get(&link).await;
    assert_eq!(page.html.matches("已邀请，待答复").count(), 2, "{}", page.html);

    // The township's mediator: the invitation in the inbox, the case closed until it joins.
    let password = add_account(&system, "zhao.township", "mediator", TOWNSHIP_ORG);
    let mut township = signed_in(&system, "zhao.township", &password).await;
    let inbox = inbox_listing(&mut township, &status.case_no).await;
    assert!(inbox.html.contains("联合调解邀请") && inbox.html.contains(&format!("{link}/join")), "{}", inbox.html);
    assert_eq!(township.get(&link).await.status, 404, "nothing of the case before joining");
    let joined = township.post(&format!("{link}/join"), &[("csrf", &inbox.csrf())]).await;
    assert_eq!(joined.status, 200, "{}", joined.html);
    assert!(joined.html.contains("id=\"joint\"") && joined.html.contains("已加入"), "{}", joined.html);
    // A joined organisation plans sessions and files documents; accepting and concluding stay the lead's.
    assert!(joined.html.contains("id=\"joined-note\"") && joined.html.contains(&format!("{link}/schedule\"")));
    assert!(joined.html.contains(&format!("{link}/documents\"")), "{}", joined.html);
    assert!(!joined.html.contains(&format!("{link}/conclude\"")), "only the lead concludes: {}", joined.html);
    let when = (time::OffsetDateTime::now_utc() + time::Duration::days(2)).to_offset(time::macros::offset!(+8));
    let at = format!("{}-{:02}-{:02}T09:30", when.year(), u8::from(when.month()), when.day());
    let fields = [("csrf", joined.csrf()), ("scheduled_at", at), ("place", "街道司法所调解室".to_string())];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let planned = township.post(&format!("{link}/schedule"), &fields).await;
    assert_eq!(planned.status, 200, "{}", planned.html);
    assert!(head.get(&link).await.html.contains("街道司法所调解室"), "the lead sees the joined organisation's session");
    let inbox = township.get("/inbox").await;
    assert!(!inbox.html.contains(&format!("{link}/join")), "answered: no longer an invitation");
    assert!(inbox.html.contains("class=\"tag\""), "the case stays in the inbox as joint work: {}", inbox.html);

    // The county's committee declines, with its reason.
    let password = add_account(&system, "qian.county", "mediator", COUNTY_ORG);
    let mut county = signed_in(&system, "qian.county", &password).await;
    let inbox = inbox_listing(&mut county, &status.case_no).await;
    let csrf_county = inbox.csrf();
    let refused = county.post(&format!("{link}/decline"), &[("csrf", &csrf_county), ("reason", "")]).await;
    assert_eq!(refused.status, 400, "a refusal says why: {}", refused.html);
    let declined =
        county.post(&format!("{link}/decline"), &[("csrf", &csrf_county), ("reason", "本案不属县级受理范围")]).await;
    assert_eq!((declined.status, declined.location.as_deref()), (303, Some("/inbox")));
    assert!(!county.get("/inbox").await.html.contains(&status.case_no), "a declined case leaves the inbox");

    let page = head.get(&link).await;
    assert!(page.html.contains("已加入") && page.html.contains("本案不属县级受理范围"), "{}", page.html);

    // The agreement, then the parties' joint application for judicial confirmation.
    village.conclude(&item.referral_id, MediationOutcome::Agreement).await.unwrap();
    let page = head.get(&link).await;
    assert_eq!(text_of(&page.html, "confirmation-state"), "尚未申请");
    let csrf = page.csrf();
    let unticked = head.post(&format!("{link}/confirm"), &[("csrf", &csrf)]).await;
    assert_eq!(unticked.status, 400, "every party applies: {}", unticked.html);
    assert!(unticked.html.contains("all_consent"), "{}", unticked.html);
    let applied = head.post(&format!("{link}/confirm"), &[("csrf", &csrf), ("all_consent", "on")]).await;
    assert_eq!(applied.status, 200, "{}", applied.html);
    assert_eq!(text_of(&applied.html, "confirmation-state"), "已申请，待法院受理");
    assert!(!applied.html.contains("/confirm\""), "applied once: the form is gone");

    // The court acts through the gateway; the page follows.
    let court = AgencySession::connect(&system, COURT).await;
    let mut application = None;
    for _ in 0..100 {
        application = court.confirmations().await.unwrap().into_iter().find(|a| a.case_id == status.case_id);
        if application.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let application = application.expect("the court sees the application");
    court.accept_confirmation(&application.application_id, "(2026)甘0802民特12号").await.unwrap();
    court.decide_confirmation(&application.application_id, true, "").await.unwrap();
    let page = page_when(&mut head, &link, "the court's ruling", |p| p.html.contains("已确认有效")).await;
    assert!(page.html.contains("court-620802"), "{}", page.html);
    system.finish().await;
}

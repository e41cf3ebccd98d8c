//! Registration through the domain API, on SQLite and on PostgreSQL.

use std::sync::Arc;

use fengqiao_intake::pii::Vault;
use fengqiao_intake::{Intake, IntakeError, IntakeService};
use fengqiao_platform::component::{Component, PLATFORM_MIGRATIONS};
use fengqiao_platform::config::IntakeRules;
use fengqiao_platform::outbox::OutboxNotifier;
use fengqiao_platform::testing::{CapturedLogs, TestDatabase};
use fengqiao_platform::{migrate, Backend};
use fengqiao_proto::fengqiao::common::v1::{Category, Dispute, Location, Party, PartyRole, RiskLevel, Source};
use sqlx::Row;

fn police_dispute(external_ref: &str) -> Dispute {
    Dispute {
        source: Source::Police as i32,
        external_ref: external_ref.into(),
        category: Category::Neighbourhood as i32,
        parties: vec![Party { role: PartyRole::Applicant as i32, name: "张三".into(), ..Default::default() }],
        location: Some(Location { division_code: "620802001001".into(), ..Default::default() }),
        headcount: 2,
        narrative: "邻里噪音".into(),
        ..Default::default()
    }
}

async fn intake(backend: Backend) -> (TestDatabase, IntakeService) {
    let test_db = TestDatabase::new(backend, "intake").await.unwrap();
    let mut all = PLATFORM_MIGRATIONS.to_vec();
    all.extend_from_slice(Intake::MIGRATIONS);
    migrate::run(&test_db.db, &all).await.unwrap();
    let vault = Vault::new("k1", vec![("k1".into(), vec![7; 32])], vec![8; 32]).unwrap();
    let service =
        IntakeService::new(test_db.db.clone(), OutboxNotifier::default(), Arc::new(vault), IntakeRules::default());
    (test_db, service)
}

async fn registration_is_numbered_and_announced_once(backend: Backend) {
    let (test_db, intake) = intake(backend).await;
    let first = intake.register("police-620802-dongguan", Some(police_dispute("JQ2026-0001"))).await.unwrap();
    assert!(first.created);
    assert!(first.case.case_no.starts_with("620802-"), "{}", first.case.case_no);
    assert!(first.case.case_no.ends_with("-000001"), "{}", first.case.case_no);
    let again = intake.register("police-620802-dongguan", Some(police_dispute("JQ2026-0001"))).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.case, first.case);
    // Another agency may use the same number for its own matter.
    let other = intake.register("police-620802-xijiao", Some(police_dispute("JQ2026-0001"))).await.unwrap();
    assert!(other.created);
    assert!(other.case.case_no.ends_with("-000002"));
    let events = sqlx::query("SELECT COUNT(*) FROM fq_outbox WHERE event_type = 'fq.v1.case.registered'")
        .fetch_one(test_db.db.pool())
        .await
        .unwrap()
        .get::<i64, _>(0);
    assert_eq!(events, 2);
    assert_eq!(intake.get(&first.case.case_id).await.unwrap(), first.case);
    assert!(matches!(intake.get("no-such-case").await, Err(IntakeError::NotFound)));
    test_db.finish().await;
}

async fn a_dispute_with_hundreds_of_parties_keeps_each_in_its_place(backend: Backend) {
    let (test_db, intake) = intake(backend).await;
    let mut dispute = police_dispute("JQ2026-MANY");
    // More parties than one insert statement takes, so they are written in several;
    // each with its own phone, sealed in its own row.
    let phone = |i: usize| format!("1390000{i:04}");
    for i in 1..1_100 {
        dispute.parties.push(Party {
            role: PartyRole::Respondent as i32,
            name: "李四".into(),
            phone: phone(i),
            ..Default::default()
        });
    }
    let registered = intake.register("police-620802-dongguan", Some(dispute)).await.unwrap();
    let rows = sqlx::query("SELECT position, role FROM parties WHERE case_id = $1 ORDER BY position")
        .bind(&registered.case.case_id)
        .fetch_all(test_db.db.pool())
        .await
        .unwrap();
    let positions: Vec<i64> = rows.iter().map(|r| i64::from(r.get::<i32, _>(0))).collect();
    assert_eq!(positions, (0..1_100).collect::<Vec<i64>>());
    assert_eq!(rows[0].get::<i32, _>(1), PartyRole::Applicant as i32, "the applicant stays first");
    assert!(rows[1..].iter().all(|r| r.get::<i32, _>(1) == PartyRole::Respondent as i32));
    let requester = Some(fengqiao_proto::fengqiao::common::v1::Actor {
        org_id: "village-620802001001".into(),
        ..Default::default()
    });
    let revealed = intake.reveal_parties(&registered.case.case_id, requester, "mediation: call them").await.unwrap();
    assert_eq!(revealed.len(), 1_100);
    for (i, party) in revealed.iter().enumerate().skip(1) {
        assert_eq!(party.phone, phone(i), "party {i} opened another party's sealed phone");
    }
    test_db.finish().await;
}

async fn concurrent_identical_submissions_create_one_case(backend: Backend) {
    let (test_db, intake) = intake(backend).await;
    let tasks = (0..100).map(|_| {
        let intake = intake.clone();
        tokio::spawn(async move {
            intake.register("court-620802", Some(police_dispute("(2026)甘0802民诉前调123号"))).await
        })
    });
    let results: Vec<_> = futures::future::join_all(tasks).await.into_iter().map(|r| r.unwrap().unwrap()).collect();
    assert_eq!(results.iter().filter(|r| r.created).count(), 1);
    assert!(results.iter().all(|r| r.case == results[0].case));
    let cases = sqlx::query("SELECT COUNT(*) FROM cases").fetch_one(test_db.db.pool()).await.unwrap().get::<i64, _>(0);
    assert_eq!(cases, 1);
    test_db.finish().await;
}

async fn concurrent_registrations_get_gap_free_numbers(backend: Backend) {
    let (test_db, intake) = intake(backend).await;
    let tasks = (0..60).map(|i| {
        let intake = intake.clone();
        // Every fifth is a resubmission racing its original.
        let reference = if i % 5 == 4 { format!("JQ-{}", i - 4) } else { format!("JQ-{i}") };
        tokio::spawn(async move { intake.register("police-620802-dongguan", Some(police_dispute(&reference))).await })
    });
    for r in futures::future::join_all(tasks).await {
        r.unwrap().unwrap();
    }
    let mut seqs: Vec<i64> = sqlx::query_scalar::<_, String>("SELECT case_no FROM cases")
        .fetch_all(test_db.db.pool())
        .await
        .unwrap()
        .iter()
        .map(|no| no.rsplit('-').next().unwrap().parse().unwrap())
        .collect();
    seqs.sort();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "numbers 1..n with no gap");
    test_db.finish().await;
}

async fn numbering_continues_from_a_counter_left_by_an_earlier_version(backend: Backend) {
    let (test_db, intake) = intake(backend).await;
    let year = fengqiao_platform::db::local_year(fengqiao_platform::db::now_micros());
    sqlx::query("INSERT INTO case_sequences (county_code, year, last_seq) VALUES ('620802', $1, 41)")
        .bind(year)
        .execute(test_db.db.writer())
        .await
        .unwrap();
    let first = intake.register("police-620802-dongguan", Some(police_dispute("JQ-41"))).await.unwrap();
    assert_eq!(first.case.case_no, format!("620802-{year}-000042"));
    let next = intake.register("police-620802-dongguan", Some(police_dispute("JQ-42"))).await.unwrap();
    assert_eq!(next.case.case_no, format!("620802-{year}-000043"));
    test_db.finish().await;
}

async fn bad_input_names_every_field_and_stores_nothing(backend: Backend) {
    let (test_db, intake) = intake(backend).await;
    let mut d = police_dispute(" ");
    d.source = 0;
    d.location = None;
    d.parties[0].role = PartyRole::Respondent as i32;
    let Err(IntakeError::Invalid(violations)) = intake.register("police-1", Some(d)).await else {
        panic!("expected INVALID_ARGUMENT");
    };
    let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(fields, ["dispute.source", "dispute.external_ref", "dispute.location.division_code", "dispute.parties"]);
    let stored = sqlx::query("SELECT (SELECT COUNT(*) FROM cases) + (SELECT COUNT(*) FROM fq_outbox)")
        .fetch_one(test_db.db.pool())
        .await
        .unwrap()
        .get::<i64, _>(0);
    assert_eq!(stored, 0);
    test_db.finish().await;
}

async fn bad_identity_numbers_phones_and_places_are_named_and_never_echoed(backend: Backend) {
    let (test_db, intake) = intake(backend).await;
    let mut d = police_dispute("JQ-pd-1");
    d.parties[0].resident_id = "620802198002311234".into(); // 31 February
    d.parties[0].phone = "1381234567".into(); // a digit short
    d.location.as_mut().unwrap().division_code = "620802001999".into(); // no such village
    let Err(IntakeError::Invalid(violations)) = intake.register("police-1", Some(d)).await else {
        panic!("expected INVALID_ARGUMENT");
    };
    let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(
        fields,
        ["dispute.location.division_code", "dispute.parties[0].resident_id", "dispute.parties[0].phone"]
    );
    for v in &violations {
        for secret in ["620802198002311234", "1381234567", "620802001999"] {
            assert!(!v.description.contains(secret), "{} echoes input", v.field);
        }
    }
    let mut ok = police_dispute("JQ-pd-2");
    ok.parties[0].resident_id = "11010519491231002X".into();
    ok.parties[0].phone = "0933-8212345".into();
    assert!(intake.register("police-1", Some(ok)).await.unwrap().created);
    test_db.finish().await;
}

const ID: &str = "11010519491231002X";
const PHONE: &str = "13812345678";

/// Every stored byte of intake's tables and outbox, as text.
async fn everything_stored(db: &fengqiao_platform::Database) -> String {
    let mut all = String::new();
    for sql in ["SELECT dispute FROM cases", "SELECT payload FROM fq_outbox"] {
        for blob in sqlx::query_scalar::<_, Vec<u8>>(sql).fetch_all(db.pool()).await.unwrap() {
            all.push_str(&String::from_utf8_lossy(&blob));
        }
    }
    let parties: Vec<String> = sqlx::query_scalar(
        "SELECT name || COALESCE(resident_id_sealed, '') || COALESCE(phone_sealed, '')
             || COALESCE(resident_id_hash, '') || COALESCE(phone_hash, '') FROM parties",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    all.push_str(&parties.concat());
    all
}

async fn personal_data_is_sealed_at_rest_masked_in_answers_and_revealed_only_on_purpose(backend: Backend) {
    let (test_db, intake) = intake(backend).await;
    let mut d = police_dispute("JQ-pii-1");
    d.parties[0].resident_id = ID.into();
    d.parties[0].phone = format!("+86 {PHONE}");
    let case = intake.register("police-1", Some(d)).await.unwrap().case;
    let shown = &case.dispute.as_ref().unwrap().parties[0];
    assert_eq!((shown.resident_id.as_str(), shown.phone.as_str()), ("1101**********002X", "138****5678"));
    assert_eq!(intake.get(&case.case_id).await.unwrap().dispute.unwrap().parties[0].phone, "138****5678");
    let stored = everything_stored(&test_db.db).await;
    assert!(stored.contains("张三"), "the check reads the tables");
    for secret in [ID, PHONE, "1101051949"] {
        assert!(!stored.contains(secret), "{secret} stored in the clear");
    }
    let requester = Some(fengqiao_proto::fengqiao::common::v1::Actor {
        org_id: "village-620802001001".into(),
        person_id: "mediator-3".into(),
    });
    assert!(matches!(intake.reveal_parties(&case.case_id, requester.clone(), "").await, Err(IntakeError::Invalid(_))));
    let revealed = intake.reveal_parties(&case.case_id, requester, "mediation: call the parties").await.unwrap();
    assert_eq!((revealed[0].resident_id.as_str(), revealed[0].phone.as_str()), (ID, PHONE));
    let (org, purpose): (String, String) =
        sqlx::query_as("SELECT org_id, purpose FROM personal_data_access").fetch_one(test_db.db.pool()).await.unwrap();
    assert_eq!((org.as_str(), purpose.as_str()), ("village-620802001001", "mediation: call the parties"));
    let announced =
        sqlx::query("SELECT COUNT(*) FROM fq_outbox WHERE event_type = 'fq.v1.case.personal_data_accessed'")
            .fetch_one(test_db.db.pool())
            .await
            .unwrap()
            .get::<i64, _>(0);
    assert_eq!(announced, 1, "every reveal is announced");
    test_db.finish().await;
}

fn with_party(reference: &str, source: Source, id: &str) -> Dispute {
    let mut d = police_dispute(reference);
    d.source = source as i32;
    d.parties[0].resident_id = id.into();
    d
}

async fn the_same_party_again_is_linked_never_merged_and_the_lineage_finds_the_family(backend: Backend) {
    use fengqiao_proto::fengqiao::intake::v1::LinkKind;
    let (test_db, intake) = intake(backend).await;
    let a = intake.register("police-1", Some(with_party("JQ-a", Source::Police, ID))).await.unwrap().case;
    assert!(a.links.is_empty());
    let b = intake.register("police-1", Some(with_party("JQ-b", Source::Police, ID))).await.unwrap().case;
    assert_eq!(b.links.len(), 1);
    assert_eq!((b.links[0].related_case_id.as_str(), b.links[0].kind), (a.case_id.as_str(), LinkKind::Reflow as i32));
    assert!(b.links[0].reason.contains(&a.case_no), "{}", b.links[0].reason);
    let c = intake.register("petition-1", Some(with_party("XF-c", Source::Petition, ID))).await.unwrap().case;
    assert_eq!(c.links.len(), 2);
    assert!(c.links.iter().all(|l| l.kind == LinkKind::Related as i32));
    let d = intake.register("petition-1", Some(with_party("XF-d", Source::Petition, ID))).await.unwrap().case;
    assert!(d.links.iter().any(|l| l.related_case_id == c.case_id && l.kind == LinkKind::RepeatPetition as i32));
    assert_eq!(d.risk_level, RiskLevel::Orange as i32, "a repeat petition is ORANGE: {}", d.risk_explanation);
    // Somebody else at the same place is not linked.
    let other = intake.register("police-1", Some(with_party("JQ-e", Source::Police, "440304200002290014"))).await;
    assert!(other.unwrap().case.links.is_empty());
    let (family, family_links) = intake.lineage(&a.case_id).await.unwrap();
    let ids: Vec<&str> = family.iter().map(|c| c.case_id.as_str()).collect();
    assert_eq!(ids, [a.case_id.as_str(), &b.case_id, &c.case_id, &d.case_id], "the whole family, oldest first");
    assert_eq!(family_links.len(), 1 + 2 + 3);
    assert_eq!(intake.get(&d.case_id).await.unwrap().links.len(), 3);
    let cases = sqlx::query("SELECT COUNT(*) FROM cases").fetch_one(test_db.db.pool()).await.unwrap().get::<i64, _>(0);
    assert_eq!(cases, 5, "linked, never merged");
    test_db.finish().await;
}

async fn risk_is_set_by_rule_with_its_reason_and_changed_by_staff_with_an_event(backend: Backend) {
    use fengqiao_proto::fengqiao::common::v1::Actor;
    let (test_db, intake) = intake(backend).await;
    let mut d = police_dispute("JQ-risk-1");
    d.narrative = "对方扬言要同归于尽".into();
    let case = intake.register("police-1", Some(d)).await.unwrap().case;
    assert_eq!(case.risk_level, RiskLevel::Red as i32);
    assert!(case.risk_explanation.contains("同归于尽"), "{}", case.risk_explanation);
    let actor = Some(Actor { org_id: "county-620802-centre".into(), person_id: "clerk-7".into() });
    let err = intake.set_risk_level(&case.case_id, RiskLevel::Yellow, " ", actor.clone()).await.unwrap_err();
    assert!(matches!(err, IntakeError::Invalid(ref v) if v[0].field == "reason"));
    let changed = intake.set_risk_level(&case.case_id, RiskLevel::Yellow, "核实为气话", actor).await.unwrap();
    assert_eq!(changed.risk_level, RiskLevel::Yellow as i32);
    assert!(changed.risk_explanation.contains("was RED"), "{}", changed.risk_explanation);
    assert_eq!(intake.get(&case.case_id).await.unwrap().risk_level, RiskLevel::Yellow as i32);
    let events = sqlx::query("SELECT COUNT(*) FROM fq_outbox WHERE event_type = 'fq.v1.case.risk_changed'")
        .fetch_one(test_db.db.pool())
        .await
        .unwrap()
        .get::<i64, _>(0);
    assert_eq!(events, 1);
    test_db.finish().await;
}

macro_rules! on_both_databases {
    ($($test:ident),*) => {
        mod sqlite { $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $test() { super::$test(fengqiao_platform::Backend::Sqlite).await; })* }
        mod postgres { $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $test() { super::$test(fengqiao_platform::Backend::Postgres).await; })* }
    };
}

on_both_databases!(
    registration_is_numbered_and_announced_once,
    a_dispute_with_hundreds_of_parties_keeps_each_in_its_place,
    concurrent_identical_submissions_create_one_case,
    concurrent_registrations_get_gap_free_numbers,
    numbering_continues_from_a_counter_left_by_an_earlier_version,
    bad_input_names_every_field_and_stores_nothing,
    bad_identity_numbers_phones_and_places_are_named_and_never_echoed,
    personal_data_is_sealed_at_rest_masked_in_answers_and_revealed_only_on_purpose,
    the_same_party_again_is_linked_never_merged_and_the_lineage_finds_the_family,
    risk_is_set_by_rule_with_its_reason_and_changed_by_staff_with_an_event
);

#[tokio::test]
async fn a_full_intake_run_logs_no_identity_number_or_phone() {
    let captured = CapturedLogs::default();
    let writer = captured.clone();
    let subscriber =
        tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_writer(move || writer.clone()).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let (test_db, intake) = intake(Backend::Sqlite).await;
    let mut d = police_dispute("JQ-log-1");
    d.parties[0].resident_id = ID.into();
    d.parties[0].phone = PHONE.into();
    let case = intake.register("police-1", Some(d.clone())).await.unwrap().case;
    intake.register("police-1", Some(d.clone())).await.unwrap();
    intake.get(&case.case_id).await.unwrap();
    d.parties[0].resident_id = "110105194912310021".into(); // wrong check digit
    let _ = intake.register("police-1", Some(d)).await;
    tracing::info!("marker line");
    let logs = captured.text();
    assert!(logs.contains("marker line") && logs.contains("case registered"), "logs were captured");
    for secret in [ID, PHONE, "110105194912310021"] {
        assert!(!logs.contains(secret), "{secret} appears in the logs");
    }
    test_db.finish().await;
}

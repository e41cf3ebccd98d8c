//! Supervision on SQLite and on PostgreSQL: the figures of a hand-computed
//! month; alarms raised once and cleared; leader ownership; supervision
//! notices; the stuck-case sweep and re-drive.

use fengqiao_platform::component::{Component, PLATFORM_MIGRATIONS};
use fengqiao_platform::config::{ClockRegimes, SupervisionSettings};
use fengqiao_platform::outbox::OutboxNotifier;
use fengqiao_platform::testing::TestDatabase;
use fengqiao_platform::{migrate, Backend, Database};
use fengqiao_proto::fengqiao::common::v1::{Actor, Dispute, Location, MediationOutcome, ReferralState, RiskLevel};
use fengqiao_proto::fengqiao::events::v1::{
    CaseRegistered, EventDeadLettered, EventReplayed, LinkedCase, MediationConcluded,
};
use fengqiao_proto::fengqiao::routing::v1::ClockState;
use fengqiao_proto::fengqiao::supervision::v1::{Dimension, UnitFigures};
use fengqiao_routing::clocks::{self, Kind, Regimes, Timing};
use fengqiao_routing::supervision::{facts, figures, ReportPeriod, Supervision};
use fengqiao_routing::{Routing, RoutingError};
use time::macros::datetime;
use time::OffsetDateTime;

fn micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000) as i64
}

async fn migrated(backend: Backend) -> TestDatabase {
    let test_db = TestDatabase::new(backend, "routing").await.unwrap();
    let mut all = PLATFORM_MIGRATIONS.to_vec();
    all.extend_from_slice(Routing::MIGRATIONS);
    migrate::run(&test_db.db, &all).await.unwrap();
    test_db
}

async fn exec(db: &Database, sql: &'static str) {
    sqlx::query(sql).execute(db.writer()).await.unwrap();
}

async fn count(db: &Database, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db.pool()).await.unwrap()
}

fn registered(case_id: &str, division: &str, agency: &str, links: &[(&str, &str)]) -> CaseRegistered {
    CaseRegistered {
        case_id: case_id.into(),
        source_agency: agency.into(),
        dispute: Some(Dispute {
            location: Some(Location { division_code: division.into(), ..Default::default() }),
            ..Default::default()
        }),
        links: links
            .iter()
            .map(|(id, kind)| LinkedCase { related_case_id: id.to_string(), kind: kind.to_string() })
            .collect(),
        ..Default::default()
    }
}

fn concluded(case_id: &str, org_id: &str, outcome: MediationOutcome) -> MediationConcluded {
    MediationConcluded { case_id: case_id.into(), org_id: org_id.into(), outcome: outcome as i32, ..Default::default() }
}

/// A month of cases whose figures were computed by hand (docs/supervision.md).
async fn figures_match_a_hand_computed_month(backend: Backend) {
    let test_db = migrated(backend).await;
    let db = &test_db.db;
    exec(
        db,
        "INSERT INTO organisations (org_id, name, kind, level, division_code) VALUES
         ('v1', '东关村调委会', 'VILLAGE_COMMITTEE', 1, '620802001001'),
         ('t1', '东关街道调委会', 'TOWNSHIP_COMMITTEE', 2, '620802001'),
         ('v2', '西郊村调委会', 'VILLAGE_COMMITTEE', 1, '620802002001')",
    )
    .await;
    let (a, b) = ("620802001001", "620802002001");
    let agreement = MediationOutcome::Agreement;
    let mut conn = db.writer().acquire().await.unwrap();
    let c = &mut *conn;
    // Township A (620802001).
    facts::registered(c, &registered("c1", a, "police-1", &[]), micros(datetime!(2026-10-03 12:00 +08:00)))
        .await
        .unwrap();
    facts::referred(c, "c1", "v1", 1).await.unwrap();
    facts::concluded(c, &concluded("c1", "v1", agreement), micros(datetime!(2026-10-10 12:00 +08:00))).await.unwrap();
    facts::registered(c, &registered("c2", a, "police-1", &[]), micros(datetime!(2026-10-05 12:00 +08:00)))
        .await
        .unwrap();
    facts::referred(c, "c2", "v1", 1).await.unwrap();
    facts::referred(c, "c2", "t1", 2).await.unwrap();
    clocks::start(c, "c2", Kind::PeoplesMediation, "seconds:1", &Timing::national(), 0).await.unwrap();
    drop(conn);
    assert_eq!(clocks::breach_due(db, 10_000_000).await.unwrap(), 1, "c2 concludes late");
    let mut conn = db.writer().acquire().await.unwrap();
    let c = &mut *conn;
    facts::concluded(c, &concluded("c2", "t1", agreement), micros(datetime!(2026-10-20 12:00 +08:00))).await.unwrap();
    facts::registered(c, &registered("c3", a, "court-1", &[]), micros(datetime!(2026-10-08 12:00 +08:00)))
        .await
        .unwrap();
    facts::referred(c, "c3", "v1", 1).await.unwrap();
    let no_agreement = concluded("c3", "v1", MediationOutcome::NoAgreement);
    facts::concluded(c, &no_agreement, micros(datetime!(2026-10-15 12:00 +08:00))).await.unwrap();
    let c4 = registered("c4", a, "police-1", &[("c1", "RELATED")]);
    facts::registered(c, &c4, micros(datetime!(2026-10-12 12:00 +08:00))).await.unwrap();
    facts::referred(c, "c4", "v1", 1).await.unwrap();
    let c8 = registered("c8", a, "police-1", &[]);
    facts::registered(c, &c8, micros(datetime!(2026-09-01 12:00 +08:00))).await.unwrap();
    facts::concluded(c, &concluded("c8", "v1", agreement), micros(datetime!(2026-09-10 12:00 +08:00))).await.unwrap();
    // Township B (620802002): c5 registered in September, concluded in October, re-flowed by c6.
    let c5 = registered("c5", b, "petition-1", &[]);
    facts::registered(c, &c5, micros(datetime!(2026-09-20 12:00 +08:00))).await.unwrap();
    facts::concluded(c, &concluded("c5", "v2", agreement), micros(datetime!(2026-10-02 12:00 +08:00))).await.unwrap();
    let c6 = registered("c6", b, "police-2", &[("c5", "REFLOW")]);
    facts::registered(c, &c6, micros(datetime!(2026-10-25 12:00 +08:00))).await.unwrap();
    facts::referred(c, "c6", "v2", 1).await.unwrap();
    // Local month boundaries: 31 October 23:30 is October, 1 November 00:30 is not.
    let c9 = registered("c9", b, "police-2", &[]);
    facts::registered(c, &c9, micros(datetime!(2026-10-31 23:30 +08:00))).await.unwrap();
    let c7 = registered("c7", b, "police-2", &[]);
    facts::registered(c, &c7, micros(datetime!(2026-11-01 00:30 +08:00))).await.unwrap();
    // A redelivered registration changes nothing.
    facts::registered(c, &c6, micros(datetime!(2026-10-26 12:00 +08:00))).await.unwrap();
    drop(conn);
    // Joint summons: one answered in time (A), one never answered (B), one in September.
    let (t_oct4, t_oct5, t_oct26, t_oct27, t_sep30) = (
        micros(datetime!(2026-10-04 12:00 +08:00)),
        micros(datetime!(2026-10-05 12:00 +08:00)),
        micros(datetime!(2026-10-26 12:00 +08:00)),
        micros(datetime!(2026-10-27 12:00 +08:00)),
        micros(datetime!(2026-09-30 12:00 +08:00)),
    );
    for (id, case, dept, at, due, answered) in [
        ("s1", "c1", "land", t_oct4, t_oct5, Some(t_oct4 + 1)),
        ("s2", "c6", "water", t_oct26, t_oct27, None),
        ("s3", "c2", "land", t_sep30, t_oct4, Some(t_oct4)),
    ] {
        sqlx::query(
            "INSERT INTO assistance_requests (assistance_id, case_id, department, request, requested_by_org,
                 requested_by_person, requested_at, due_at, responded_at) VALUES ($1, $2, $3, 'x', 'centre', 'p', $4, $5, $6)",
        )
        .bind(id)
        .bind(case)
        .bind(dept)
        .bind(at)
        .bind(due)
        .bind(answered)
        .execute(db.writer())
        .await
        .unwrap();
    }

    let october = ReportPeriod::parse("2026-10").unwrap();
    let mut conn = db.pool().acquire().await.unwrap();
    let (rows, total) = figures::compute(&mut conn, october, Dimension::Township).await.unwrap();
    let row = |id: &str| rows.iter().find(|r| r.unit_id == id).unwrap().clone();
    let township_a = row("620802001");
    let expected_a = UnitFigures {
        unit_id: "620802001".into(),
        unit_name: township_a.unit_name.clone(),
        registered: 4,
        concluded: 3,
        agreements: 2,
        success_rate: 2.0 / 3.0,
        resolution_rate: 0.5,
        resolved_within_period: 2,
        period_resolution_rate: 0.5,
        concluded_on_time: 2,
        timeliness: 2.0 / 3.0,
        resolved_at_village: 1,
        village_share: 0.5,
        resolved_at_township: 1,
        township_share: 0.5,
        reflowed: 0,
        refiled: 1,
        net_resolution_rate: 2.0 / 3.0,
        summons_requested: 1,
        summons_answered_on_time: 1,
        summons_response_rate: 1.0,
        rank: 1,
    };
    assert_eq!(township_a, expected_a);
    assert_ne!(township_a.unit_name, "620802001", "the township is named from the division codes");
    let township_b = row("620802002");
    assert_eq!(
        (township_b.registered, township_b.concluded, township_b.agreements, township_b.resolved_within_period),
        (2, 1, 1, 0)
    );
    assert_eq!((township_b.reflowed, township_b.refiled, township_b.resolved_at_village), (1, 0, 1));
    assert_eq!((township_b.net_resolution_rate, township_b.resolution_rate, township_b.rank), (0.0, 0.5, 2));
    assert_eq!((township_b.summons_requested, township_b.summons_answered_on_time), (1, 0));
    assert_eq!(rows.iter().map(|r| r.unit_id.as_str()).collect::<Vec<_>>(), ["620802001", "620802002"]);
    assert_eq!((total.registered, total.refiled, total.concluded, total.agreements), (6, 1, 4, 3));
    assert_eq!((total.concluded_on_time, total.reflowed, total.net_resolution_rate), (3, 1, 0.4));

    let (rows, _) = figures::compute(&mut conn, october, Dimension::Department).await.unwrap();
    let ranked: Vec<_> = rows.iter().map(|r| (r.unit_id.as_str(), r.rank)).collect();
    assert_eq!(
        ranked,
        [("police-1", 1), ("police-2", 2), ("court-1", 2), ("land", 0), ("petition-1", 0), ("water", 0)],
        "ties share a rank, more registered first; units that registered nothing are unranked"
    );
    let (rows, _) = figures::compute(&mut conn, october, Dimension::Organisation).await.unwrap();
    let v1 = rows.iter().find(|r| r.unit_id == "v1").unwrap();
    assert_eq!(
        (v1.unit_name.as_str(), v1.registered, v1.agreements),
        ("东关村调委会", 3, 1),
        "c1, c3, c4; c2 moved on"
    );

    let quarter = ReportPeriod::parse("2026-Q4").unwrap();
    let (_, q4) = figures::compute(&mut conn, quarter, Dimension::Township).await.unwrap();
    assert_eq!(q4.registered, 7, "the quarter holds November's case too");
    let csv = figures::to_csv(&figures::compute(&mut conn, october, Dimension::Township).await.unwrap().0, &total);
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("rank,unit_id,unit_name,registered,concluded,agreements,success_rate_pct"));
    assert!(lines[1].starts_with("1,620802001,"), "{}", lines[1]);
    assert!(lines[1].contains(",4,3,2,66.7,50.0,2,50.0,2,66.7,1,50.0,1,50.0,0,1,66.7,1,1,100.0"), "{}", lines[1]);
    assert!(lines[3].starts_with(",total,total,6,4,3,"), "{}", lines[3]);
    drop(conn);
    test_db.finish().await;
}

fn supervision(db: &Database, settings: SupervisionSettings) -> Supervision {
    let regimes = Regimes::new(ClockRegimes::default()).unwrap();
    Supervision::new(db.clone(), OutboxNotifier::default(), regimes, settings)
}

async fn add_case(db: &Database, case_id: &str) {
    sqlx::query(
        "INSERT INTO routed_cases (case_id, case_no, source_agency, division_code, risk_level, dispute, created_at)
         VALUES ($1, '620802-2026-000001', 'police-1', '620802001001', 4, $2, 0)",
    )
    .bind(case_id)
    .bind(Vec::<u8>::new())
    .execute(db.writer())
    .await
    .unwrap();
}

fn centre() -> Option<Actor> {
    Some(Actor { org_id: "county-620802-centre".into(), person_id: "supervisor-1".into() })
}

async fn clock_state(db: &Database, clock_id: &str) -> i32 {
    sqlx::query_scalar("SELECT state FROM clocks WHERE clock_id = $1")
        .bind(clock_id)
        .fetch_one(db.pool())
        .await
        .unwrap()
}

/// RED cases without an owner raise an alarm until one is assigned; the
/// owner must acknowledge, on a clock.
async fn red_case_gets_an_owner_who_must_acknowledge(backend: Backend) {
    let test_db = migrated(backend).await;
    let db = &test_db.db;
    add_case(db, "red-1").await;
    add_case(db, "red-2").await;
    let s = supervision(db, SupervisionSettings::default());
    let red = RiskLevel::Red as i32;
    let mut tx = db.begin().await.unwrap();
    s.on_risk(&mut tx, "red-1", "620802001001", red).await.unwrap();
    s.on_risk(&mut tx, "red-1", "620802001001", red).await.unwrap();
    tx.commit().await.unwrap();
    let (open, _) = s.alarms("RED_UNOWNED", "", false, 0, "", "").await.unwrap();
    assert_eq!(open.len(), 1, "raised once");
    assert_eq!(count(db, "SELECT COUNT(*) FROM fq_outbox WHERE event_type = 'fq.v1.alarm.raised'").await, 1);

    let bad = s.assign_owner("red-1", " ", None).await.unwrap_err();
    let RoutingError::Invalid(v) = bad else { panic!("expected violations") };
    assert_eq!(v.iter().map(|v| v.field.as_str()).collect::<Vec<_>>(), ["leader_id", "actor.org_id"]);
    assert!(matches!(s.assign_owner("nobody", "leader-wang", centre()).await, Err(RoutingError::NotFound)));
    let owner = s.assign_owner("red-1", "leader-wang", centre()).await.unwrap();
    assert!(owner.acknowledged_at.is_none());
    assert_eq!(clock_state(db, &owner.clock_id).await, ClockState::Running as i32);
    assert!(s.alarms("RED_UNOWNED", "", false, 0, "", "").await.unwrap().0.is_empty(), "cleared by the assignment");
    assert_eq!(s.alarms("RED_UNOWNED", "", true, 0, "", "").await.unwrap().0.len(), 1, "kept as history");
    assert!(matches!(s.acknowledge("red-1", "leader-zhao").await, Err(RoutingError::Precondition(_))));
    let acknowledged = s.acknowledge("red-1", "leader-wang").await.unwrap();
    assert!(acknowledged.acknowledged_at.is_some());
    assert_eq!(clock_state(db, &owner.clock_id).await, ClockState::Met as i32);

    // A configured leader owns RED cases of their area at once.
    let settings = SupervisionSettings {
        red_case_owners: [("620802".to_string(), "leader-li".to_string())].into(),
        ..Default::default()
    };
    let s = supervision(db, settings);
    let mut tx = db.begin().await.unwrap();
    s.on_risk(&mut tx, "red-2", "620802001001", red).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(s.of_case("red-2").await.unwrap().0.unwrap().leader_id, "leader-li");
    assert_eq!(s.alarms("RED_UNOWNED", "red-2", true, 0, "", "").await.unwrap().0.len(), 0);
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM fq_outbox WHERE event_type = 'fq.v1.supervision.owner_assigned'").await,
        2
    );
    test_db.finish().await;
}

/// A notice runs a response clock; only its organisation answers it, once.
async fn supervision_notice_is_answered_once_by_its_organisation(backend: Backend) {
    let test_db = migrated(backend).await;
    let db = &test_db.db;
    add_case(db, "case-1").await;
    exec(db, "INSERT INTO organisations (org_id, name, kind, level, division_code) VALUES ('v1', 'v', 'VILLAGE_COMMITTEE', 1, '620802001001')").await;
    let s = supervision(db, SupervisionSettings::default());
    let bad = s.issue_notice("case-1", "nowhere", "", "months:1", centre()).await.unwrap_err();
    let RoutingError::Invalid(v) = bad else { panic!("expected violations") };
    assert_eq!(v.iter().map(|v| v.field.as_str()).collect::<Vec<_>>(), ["demand", "response_period"]);
    let unknown_org = s.issue_notice("case-1", "nowhere", "请三日内反馈", "", centre()).await.unwrap_err();
    assert!(matches!(unknown_org, RoutingError::Invalid(v) if v[0].field == "org_id"));
    let notice = s.issue_notice("case-1", "v1", "请三日内反馈调解进展", "working_days:2", centre()).await.unwrap();
    assert!(notice.due_at.unwrap().seconds > notice.issued_at.unwrap().seconds + 2 * 86_400 - 1);
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM fq_outbox WHERE event_type = 'fq.v1.supervision.notice_issued'").await,
        1
    );
    let other = Some(Actor { org_id: "v9".into(), person_id: "x".into() });
    assert!(matches!(s.respond(&notice.notice_id, "已处理", other).await, Err(RoutingError::NotFound)));
    let staff = Some(Actor { org_id: "v1".into(), person_id: "m-1".into() });
    let answered = s.respond(&notice.notice_id, "已组织双方调解", staff.clone()).await.unwrap();
    assert_eq!(answered.response, "已组织双方调解");
    assert_eq!(clock_state(db, &notice.clock_id).await, ClockState::Met as i32);
    assert!(matches!(s.respond(&notice.notice_id, "again", staff).await, Err(RoutingError::Precondition(_))));
    assert_eq!(s.of_case("case-1").await.unwrap().1.len(), 1);
    test_db.finish().await;
}

/// Warnings and breaches raise one alarm each; a referral that does not move
/// is stuck once, can be re-driven while unreceived, and clears when it moves;
/// dead letters raise and replays clear.
async fn alarms_are_raised_once_and_cleared_by_what_ends_them(backend: Backend) {
    let test_db = migrated(backend).await;
    let db = &test_db.db;
    add_case(db, "case-1").await;
    let s = supervision(db, SupervisionSettings { stuck_after_secs: 60, ..Default::default() });
    let mut conn = db.writer().acquire().await.unwrap();
    let t0 = 1_795_000_000_000_000;
    let second = 1_000_000;
    let clock =
        clocks::start(&mut conn, "case-1", Kind::RiskResponse, "seconds:10", &Timing::national(), t0).await.unwrap();
    drop(conn);
    assert_eq!(clocks::warn_due(db, t0 + 7 * second).await.unwrap(), 0, "not yet in its last fifth");
    assert_eq!(clocks::warn_due(db, t0 + 8 * second).await.unwrap(), 1);
    assert_eq!(clocks::warn_due(db, t0 + 9 * second).await.unwrap(), 0, "warned once");
    assert_eq!(s.alarms("WARNING", "", false, 0, "", "").await.unwrap().0[0].subject_id, clock);
    assert_eq!(clocks::breach_due(db, t0 + 11 * second).await.unwrap(), 1);
    assert!(s.alarms("WARNING", "", false, 0, "", "").await.unwrap().0.is_empty(), "the breach replaces the warning");
    assert_eq!(s.alarms("OVERDUE", "case-1", false, 0, "", "").await.unwrap().0.len(), 1);
    // A jurisdiction sees the alarms of cases placed in it (case-1 is in 620802001001), no others.
    assert_eq!(s.alarms("OVERDUE", "", false, 0, "", "620802001").await.unwrap().0.len(), 1);
    assert!(s.alarms("OVERDUE", "", false, 0, "", "620803").await.unwrap().0.is_empty());
    assert_eq!(count(db, "SELECT COUNT(*) FROM fq_outbox WHERE event_type = 'fq.v1.clock.warning'").await, 1);
    assert!(matches!(s.alarms("LATE", "", false, 0, "", "").await, Err(RoutingError::Invalid(_))));

    let now = fengqiao_platform::db::now_micros();
    sqlx::query(
        "INSERT INTO referrals (referral_id, case_id, org_id, level, sender, state, explanation, reason, created_at, updated_at)
         VALUES ('ref-1', 'case-1', 'v1', 1, 'police-1', $1, 'why', '', $2, $2)",
    )
    .bind(ReferralState::Requested as i32)
    .bind(now - 120 * second)
    .execute(db.writer())
    .await
    .unwrap();
    assert_eq!(s.sweep_stuck(now).await.unwrap(), 1);
    assert_eq!(s.sweep_stuck(now + second).await.unwrap(), 0, "stuck once");
    let (stuck, _) = s.alarms("STUCK_CASE", "", false, 0, "", "").await.unwrap();
    assert_eq!(
        (stuck[0].subject_id.as_str(), stuck[0].detail.as_str()),
        ("ref-1", "referral REFERRAL_STATE_REQUESTED for 0 h without a change")
    );
    assert!(matches!(s.redrive("case-1", None).await, Err(RoutingError::Invalid(_))));
    assert_eq!(s.redrive("case-1", centre()).await.unwrap(), "ref-1");
    assert_eq!(count(db, "SELECT COUNT(*) FROM fq_outbox WHERE event_type = 'fq.v1.referral.requested'").await, 1);
    let mut tx = db.begin().await.unwrap();
    s.on_referral_moved(&mut tx, "ref-1", ReferralState::Accepted).await.unwrap();
    tx.commit().await.unwrap();
    assert!(s.alarms("STUCK_CASE", "", false, 0, "", "").await.unwrap().0.is_empty(), "cleared when it moves");
    exec(db, "UPDATE referrals SET state = 3").await;
    let Err(RoutingError::Precondition(why)) = s.redrive("case-1", centre()).await else {
        panic!("expected a precondition")
    };
    assert!(why.contains("supervision notice"), "{why}");

    let parked = EventDeadLettered {
        case_id: "case-1".into(),
        event_id: "ev-1".into(),
        event_subject: "fq.v1.referral.accepted".into(),
        consumer: "gateway-status".into(),
        attempts: 5,
        last_error: "boom".into(),
    };
    let mut tx = db.begin().await.unwrap();
    s.on_dead_lettered(&mut tx, &parked).await.unwrap();
    tx.commit().await.unwrap();
    let (dead, _) = s.alarms("DEAD_LETTER", "", false, 0, "", "").await.unwrap();
    assert_eq!(dead[0].subject_id, "gateway-status/ev-1");
    assert!(dead[0].detail.contains("fengqiao dlq replay"));
    let replayed = EventReplayed {
        case_id: "case-1".into(),
        event_id: "ev-1".into(),
        event_subject: parked.event_subject.clone(),
        consumer: "gateway-status".into(),
    };
    let mut tx = db.begin().await.unwrap();
    s.on_replayed(&mut tx, &replayed).await.unwrap();
    tx.commit().await.unwrap();
    assert!(s.alarms("DEAD_LETTER", "", false, 0, "", "").await.unwrap().0.is_empty());
    let (page, next) = s.alarms("", "", true, 2, "", "").await.unwrap();
    assert_eq!(page.len(), 2);
    let (rest, _) = s.alarms("", "", true, 10, &next, "").await.unwrap();
    assert_eq!(rest.len(), 2, "four alarms in all, paged newest first");
    test_db.finish().await;
}

macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(fengqiao_platform::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(fengqiao_platform::Backend::Postgres).await;
                }
            )*
        }
    };
}

on_both_databases!(
    figures_match_a_hand_computed_month,
    red_case_gets_an_owner_who_must_acknowledge,
    supervision_notice_is_answered_once_by_its_organisation,
    alarms_are_raised_once_and_cleared_by_what_ends_them,
);

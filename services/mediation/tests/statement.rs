//! A month of seeded cases through the mediation service — each case received,
//! mediated, concluded, performed (or not) and visited at its own time — gives
//! the subsidy statement and work figures computed by hand below, on SQLite and
//! on PostgreSQL. Intake and routing are answered by a fake (their real answers
//! are proven in tests/tests/mediation.rs).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use fengqiao_domain::referral::Action;
use fengqiao_mediation::{Mediation, MediationService, Peers, Step};
use fengqiao_platform::component::{Component, PLATFORM_MIGRATIONS};
use fengqiao_platform::config::SubsidySettings;
use fengqiao_platform::db::timestamp;
use fengqiao_platform::outbox::OutboxNotifier;
use fengqiao_platform::testing::TestDatabase;
use fengqiao_platform::{migrate, Backend};
use fengqiao_proto::fengqiao::common::v1::*;
use fengqiao_proto::fengqiao::events::v1::ReferralRequested;
use fengqiao_proto::fengqiao::mediation::v1::*;
use fengqiao_proto::fengqiao::routing::v1::Mediator;
use time::macros::{datetime, offset};
use time::{Duration, OffsetDateTime};
use tonic::Status;

const VILLAGE: &str = "village-620802001001";
const OTHER_ORG: &str = "township-620802002";

struct FakePeers;

#[async_trait]
impl Peers for FakePeers {
    async fn mediators(&self, org_id: &str) -> Result<Vec<Mediator>, Status> {
        Ok(["mediator-a", "mediator-b"]
            .iter()
            .map(|id| Mediator {
                mediator_id: id.to_string(),
                org_id: org_id.into(),
                available: true,
                ..Default::default()
            })
            .collect())
    }

    async fn parties(&self, _: &str, _: &Actor, _: String) -> Result<Vec<Party>, Status> {
        Ok(vec![
            Party { role: PartyRole::Applicant as i32, name: "张三".into(), ..Default::default() },
            Party { role: PartyRole::Respondent as i32, name: "李四".into(), ..Default::default() },
        ])
    }
}

/// How a seeded case goes.
#[derive(Clone)]
struct Seed {
    org: &'static str,
    mediator: &'static str,
    division: &'static str,
    risk: RiskLevel,
    headcount: u32,
    amount_fen: i64,
    sessions: u32,
    /// When the agreement was performed (local time); concluded an hour before, received two days before that.
    performed: OffsetDateTime,
    investigation_record: bool,
    breached: bool,
    visit: Option<u32>,
    tier_override: u32,
    concluded: bool,
}

fn seed(mediator: &'static str, performed: OffsetDateTime) -> Seed {
    Seed {
        org: VILLAGE,
        mediator,
        division: "620802002001",
        risk: RiskLevel::Blue,
        headcount: 2,
        amount_fen: 0,
        sessions: 1,
        performed,
        investigation_record: true,
        breached: false,
        visit: Some(4),
        tier_override: 0,
        concluded: true,
    }
}

fn micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000) as i64
}

struct World {
    service: MediationService,
    clock: Arc<AtomicI64>,
    db: TestDatabase,
}

impl World {
    fn at(&self, t: OffsetDateTime) {
        self.clock.store(micros(t), Ordering::SeqCst);
    }

    async fn run(&self, n: usize, s: &Seed) -> String {
        let id = format!("referral-{n:02}");
        let actor = Some(Actor { org_id: s.org.into(), person_id: "clerk-1".into() });
        let concluded = s.performed - Duration::hours(1);
        self.at(concluded - Duration::days(2));
        let requested = ReferralRequested {
            case_id: format!("case-{n:02}"),
            referral_id: id.clone(),
            org_id: s.org.into(),
            sender: "police-620802-dongguan".into(),
            case_no: format!("620802-2026-{n:06}"),
            risk_level: s.risk as i32,
            dispute: Some(Dispute {
                category: Category::Neighbourhood as i32,
                parties: vec![Party::default(), Party::default()],
                location: Some(Location { division_code: s.division.into(), ..Default::default() }),
                headcount: s.headcount,
                amount_fen: s.amount_fen,
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut tx = self.db.db.begin().await.unwrap();
        self.service.receive(&mut tx, &requested).await.unwrap();
        tx.commit().await.unwrap();
        let me = actor.clone().unwrap();
        self.service.act(&id, Step::new(Action::Accept, me.clone())).await.unwrap();
        let assign = AssignMediatorsRequest {
            referral_id: id.clone(),
            actor: actor.clone(),
            lead_mediator_id: s.mediator.into(),
            ..Default::default()
        };
        self.service.assign_mediators(assign).await.unwrap();
        self.service.act(&id, Step::new(Action::Start, me.clone())).await.unwrap();
        for _ in 0..s.sessions {
            let schedule = ScheduleSessionRequest {
                referral_id: id.clone(),
                actor: actor.clone(),
                scheduled_at: Some(timestamp(micros(concluded - Duration::days(1)))),
                place: "调解室".into(),
                party_numbers: vec![1, 2],
                ..Default::default()
            };
            let session = self.service.schedule_session(schedule).await.unwrap();
            let record = RecordSessionRequest {
                session_id: session.session_id,
                actor: actor.clone(),
                record: "调解笔录".into(),
                ..Default::default()
            };
            self.service.record_session(record).await.unwrap();
        }
        let mut kinds = vec![FileDocumentKind::Application];
        if s.investigation_record {
            kinds.push(FileDocumentKind::InvestigationRecord);
        }
        for kind in kinds {
            let doc = AddFileDocumentRequest {
                referral_id: id.clone(),
                actor: actor.clone(),
                kind: kind as i32,
                title: "材料".into(),
                sha256: "ab".repeat(32),
                size_bytes: 10,
                media_type: "application/pdf".into(),
            };
            self.service.add_document(doc).await.unwrap();
        }
        if s.tier_override != 0 {
            let tier = SetDifficultyTierRequest {
                referral_id: id.clone(),
                actor: actor.clone(),
                tier: s.tier_override,
                reason: "风险已化解，按简易案件".into(),
            };
            self.service.set_tier(tier).await.unwrap();
        }
        if !s.concluded {
            return id;
        }
        self.at(concluded);
        let deadline = (concluded.to_offset(offset!(+8)).date() + Duration::days(30)).to_string();
        let conclude = ConcludeMediationRequest {
            referral_id: id.clone(),
            actor: actor.clone(),
            outcome: MediationOutcome::Agreement as i32,
            agreement: Some(AgreementTerms {
                form: AgreementForm::Oral as i32,
                terms: vec!["赔偿".into()],
                performance_deadline: deadline,
                ..Default::default()
            }),
            ..Default::default()
        };
        self.service.conclude(conclude).await.unwrap();
        self.at(s.performed + Duration::minutes(10));
        let performance = RecordPerformanceRequest {
            referral_id: id.clone(),
            actor: actor.clone(),
            state: if s.breached { PerformanceState::Breached } else { PerformanceState::Performed } as i32,
            performed_at: (!s.breached).then(|| timestamp(micros(s.performed))),
            note: String::new(),
        };
        self.service.record_performance(performance).await.unwrap();
        if let Some(satisfaction) = s.visit {
            let visit = RecordReturnVisitRequest {
                referral_id: id.clone(),
                actor,
                visited_at: Some(timestamp(micros(s.performed + Duration::minutes(5)))),
                satisfaction,
                method: "phone".into(),
                note: String::new(),
            };
            self.service.record_visit(visit).await.unwrap();
        }
        id
    }
}

async fn a_month_of_cases_gives_the_hand_computed_statement_and_figures(backend: Backend) {
    let db = TestDatabase::new(backend, "mediation").await.unwrap();
    let mut all = PLATFORM_MIGRATIONS.to_vec();
    all.extend_from_slice(Mediation::MIGRATIONS);
    migrate::run(&db.db, &all).await.unwrap();
    let clock = Arc::new(AtomicI64::new(0));
    let read = clock.clone();
    // Amounts differ in township 620802001 (the village's) from the county's defaults.
    let subsidy = SubsidySettings {
        tiers_fen: [5_000, 20_000, 50_000, 100_000],
        jurisdictions: BTreeMap::from([("620802001".to_string(), [6_000, 25_000, 60_000, 120_000])]),
    };
    let service = MediationService::new(db.db.clone(), OutboxNotifier::default(), Arc::new(FakePeers), subsidy)
        .with_clock(Arc::new(move || read.load(Ordering::SeqCst)));
    let world = World { service, clock, db };
    let oct = |day: u8, h: u8, m: u8| {
        datetime!(2026-10-01 00:00 +8).replace_day(day).unwrap().replace_hour(h).unwrap().replace_minute(m).unwrap()
    };
    let (a, b) = ("mediator-a", "mediator-b");
    let seeds = [
        // 1: tier 1 (default amounts) → a, 50 yuan.
        seed(a, oct(5, 10, 0)),
        // 2: YELLOW → tier 2 → a, 200 yuan.
        Seed { risk: RiskLevel::Yellow, ..seed(a, oct(10, 10, 0)) },
        // 3: RED → tier 4 → b, 1000 yuan; the visit found them dissatisfied (2).
        Seed { risk: RiskLevel::Red, visit: Some(2), ..seed(b, oct(12, 10, 0)) },
        // 4: a group dispute in the village's township → tier 4 at 1200 yuan → b.
        Seed { headcount: 6, division: "620802001001", ..seed(b, oct(15, 10, 0)) },
        // 5: two sessions in the village's township → tier 2 at 250 yuan → a; performed 31 Oct 23:30.
        Seed { sessions: 2, division: "620802001001", ..seed(a, oct(31, 23, 30)) },
        // 6: performed 1 Nov 00:10 local: November's.
        Seed { amount_fen: 6_000_000, ..seed(a, datetime!(2026-11-01 00:10 +8)) },
        // 7: performed 30 Sep 23:50 local: September's.
        seed(b, datetime!(2026-09-30 23:50 +8)),
        // 8: no investigation record: the file is incomplete.
        Seed { investigation_record: false, ..seed(a, oct(20, 10, 0)) },
        // 9: breached.
        Seed { breached: true, ..seed(b, oct(20, 11, 0)) },
        // 10: ORANGE (tier 3) set to tier 1 by staff → b, 50 yuan.
        Seed { risk: RiskLevel::Orange, tier_override: 1, ..seed(b, oct(22, 10, 0)) },
        // 11: no return visit: the file is incomplete.
        Seed { visit: None, ..seed(a, oct(23, 10, 0)) },
        // 12: another organisation's.
        Seed { org: OTHER_ORG, ..seed(a, oct(8, 10, 0)) },
        // 13: still being mediated.
        Seed { concluded: false, ..seed(a, oct(25, 10, 0)) },
    ];
    for (n, s) in seeds.iter().enumerate() {
        world.run(n + 1, s).await;
    }

    let statement = world.service.subsidy_statement(VILLAGE, "2026-10").await.unwrap();
    let lines: Vec<(&str, &str, u32, i64)> =
        statement.lines.iter().map(|l| (l.case_no.as_str(), l.mediator_id.as_str(), l.tier, l.amount_fen)).collect();
    assert_eq!(
        lines,
        [
            ("620802-2026-000001", a, 1, 5_000),
            ("620802-2026-000002", a, 2, 20_000),
            ("620802-2026-000003", b, 4, 100_000),
            ("620802-2026-000004", b, 4, 120_000),
            ("620802-2026-000010", b, 1, 5_000),
            ("620802-2026-000005", a, 2, 25_000),
        ]
    );
    let totals: Vec<(&str, u32, i64)> =
        statement.mediators.iter().map(|m| (m.mediator_id.as_str(), m.cases, m.amount_fen)).collect();
    assert_eq!(totals, [(a, 3, 50_000), (b, 3, 225_000)]);
    assert_eq!((statement.cases, statement.amount_fen), (6, 275_000));
    let csv = fengqiao_mediation::statement_csv(&statement);
    assert!(csv.ends_with(&format!("total,{VILLAGE},2026-10,,,,,,6,2750.00\n")), "{csv}");
    assert!(csv.contains(&format!("mediator,{VILLAGE},2026-10,,,mediator-b,,,3,2250.00\n")), "{csv}");
    assert!(
        csv.contains(
            "case,village-620802001001,2026-10,620802-2026-000004,referral-04,mediator-b,4,2026-10-15,1,1200.00\n"
        ),
        "{csv}"
    );
    assert_eq!(world.service.subsidy_statement(VILLAGE, "2026-11").await.unwrap().cases, 1, "case 6");
    assert_eq!(world.service.subsidy_statement(VILLAGE, "2026-09").await.unwrap().cases, 1, "case 7");
    assert!(world.service.subsidy_statement(VILLAGE, "2026-Q4").await.is_err(), "a statement is monthly");

    // Concluded in October: 1–6 and 8–11 (all agreements, each two days after receipt);
    // visits in October: 1–5 and 8–10, satisfaction 4 except case 3's 2; case 13 is open.
    let (org, mediators) = world.service.statistics(VILLAGE, "2026-10").await.unwrap();
    let f = |w: &WorkFigures| {
        (
            w.open,
            w.concluded,
            w.agreements,
            w.agreement_rate,
            w.average_days_to_conclusion,
            w.visits,
            w.average_satisfaction,
        )
    };
    assert_eq!(f(&org), (1, 10, 10, 1.0, 2.0, 8, 3.75));
    assert_eq!(mediators.iter().map(|m| m.mediator_id.as_str()).collect::<Vec<_>>(), [a, b]);
    assert_eq!(f(&mediators[0]), (1, 6, 6, 1.0, 2.0, 4, 4.0));
    assert_eq!(f(&mediators[1]), (0, 4, 4, 1.0, 2.0, 4, 3.5));
    world.db.finish().await;
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_month_of_cases_gives_the_hand_computed_statement_and_figures() {
        super::a_month_of_cases_gives_the_hand_computed_statement_and_figures(fengqiao_platform::Backend::Sqlite).await;
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_month_of_cases_gives_the_hand_computed_statement_and_figures() {
        super::a_month_of_cases_gives_the_hand_computed_statement_and_figures(fengqiao_platform::Backend::Postgres)
            .await;
    }
}

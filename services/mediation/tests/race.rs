//! A revoke racing an accept is decided in one transaction: exactly one wins,
//! and the stored state and the events agree with the winner — on SQLite and
//! on PostgreSQL.

use std::sync::Arc;

use fengqiao_domain::referral::Action;
use fengqiao_mediation::{GrpcPeers, Mediation, MediationError, MediationService, Step};
use fengqiao_platform::component::{Component, PLATFORM_MIGRATIONS};
use fengqiao_platform::outbox::OutboxNotifier;
use fengqiao_platform::testing::TestDatabase;
use fengqiao_platform::{migrate, Backend};
use fengqiao_proto::fengqiao::common::v1::{Actor, ReferralState};
use fengqiao_proto::fengqiao::events::v1::ReferralRequested;
use fengqiao_proto::fengqiao::intake::v1::intake_service_client::IntakeServiceClient;
use fengqiao_proto::fengqiao::mediation::v1::CancelReferralRequest;
use fengqiao_proto::fengqiao::routing::v1::routing_service_client::RoutingServiceClient;
use sqlx::Row;

const ORG: &str = "village-620802001001";
const SENDER: &str = "police-620802-dongguan";

async fn revoke_racing_accept_has_one_winner(backend: Backend) {
    let test_db = TestDatabase::new(backend, "mediation").await.unwrap();
    let mut all = PLATFORM_MIGRATIONS.to_vec();
    all.extend_from_slice(Mediation::MIGRATIONS);
    migrate::run(&test_db.db, &all).await.unwrap();
    // Contacts and mediators are not asked for here; intake and routing are never called.
    let nowhere = || {
        fengqiao_platform::grpc_trace::TracedChannel::new(
            tonic::transport::Endpoint::from_static("http://127.0.0.1:9").connect_lazy(),
        )
    };
    let peers =
        GrpcPeers { intake: IntakeServiceClient::new(nowhere()), routing: RoutingServiceClient::new(nowhere()) };
    let service = Arc::new(MediationService::new(
        test_db.db.clone(),
        OutboxNotifier::default(),
        Arc::new(peers),
        Default::default(),
    ));

    let n = 200;
    for i in 0..n {
        let requested = ReferralRequested {
            case_id: format!("case-{i}"),
            referral_id: format!("referral-{i}"),
            org_id: ORG.into(),
            sender: SENDER.into(),
            case_no: format!("620802-2026-{i:06}"),
            ..Default::default()
        };
        let mut tx = test_db.db.begin().await.unwrap();
        service.receive(&mut tx, &requested).await.unwrap();
        tx.commit().await.unwrap();
    }
    let races = (0..n).map(|i| {
        let (a, c) = (service.clone(), service.clone());
        async move {
            let accept = async move {
                let actor = Actor { org_id: ORG.into(), person_id: "mediator-1".into() };
                a.act(&format!("referral-{i}"), Step::new(Action::Accept, actor)).await
            };
            let cancel = async move {
                c.cancel(CancelReferralRequest {
                    referral_id: format!("referral-{i}"),
                    case_id: format!("case-{i}"),
                    org_id: ORG.into(),
                    sender: SENDER.into(),
                    reason: "当事人已和解".into(),
                    // The sender revokes what it saw: a referral not yet accepted.
                    expected_state: ReferralState::Received as i32,
                })
                .await
            };
            let (accepted, cancelled) = tokio::join!(tokio::spawn(accept), tokio::spawn(cancel));
            (i, accepted.unwrap(), cancelled.unwrap())
        }
    });
    let outcomes = futures::future::join_all(races).await;
    let (mut accepts, mut cancels) = (0, 0);
    for (i, accepted, cancelled) in outcomes {
        let winner = match (&accepted, &cancelled) {
            (Ok(item), Err(MediationError::StateChanged { .. })) => {
                accepts += 1;
                assert_eq!(item.state, ReferralState::Accepted as i32);
                ReferralState::Accepted
            }
            (Err(MediationError::Transition(_)), Ok(item)) => {
                cancels += 1;
                assert_eq!(item.state, ReferralState::Cancelled as i32);
                ReferralState::Cancelled
            }
            other => panic!("referral-{i}: exactly one must win, got {other:?}"),
        };
        let stored: i32 = sqlx::query_scalar("SELECT state FROM referrals WHERE referral_id = $1")
            .bind(format!("referral-{i}"))
            .fetch_one(test_db.db.pool())
            .await
            .unwrap();
        assert_eq!(stored, winner as i32, "referral-{i}: the stored state is the winner's");
    }
    assert_eq!(accepts + cancels, n);
    // One event per race, of the winner's kind.
    let events = sqlx::query(
        "SELECT COUNT(*) FROM fq_outbox WHERE event_type IN ('fq.v1.referral.accepted', 'fq.v1.referral.cancelled')",
    )
    .fetch_one(test_db.db.pool())
    .await
    .unwrap()
    .get::<i64, _>(0);
    assert_eq!(events, n as i64);
    test_db.finish().await;
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn revoke_racing_accept_has_one_winner() {
        super::revoke_racing_accept_has_one_winner(fengqiao_platform::Backend::Sqlite).await;
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn revoke_racing_accept_has_one_winner() {
        super::revoke_racing_accept_has_one_winner(fengqiao_platform::Backend::Postgres).await;
    }
}

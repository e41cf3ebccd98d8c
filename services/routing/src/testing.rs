//! Routing over a fresh migrated database with the demo directory, for the
//! crate's own tests.

use std::sync::Arc;

use fengqiao_platform::component::{Component, PLATFORM_MIGRATIONS};
use fengqiao_platform::db::{Backend, Database};
use fengqiao_platform::grpc_trace::TracedChannel;
use fengqiao_platform::migrate;
use fengqiao_platform::outbox::OutboxNotifier;
use fengqiao_platform::testing::TestDatabase;
use fengqiao_proto::fengqiao::common::v1::{Dispute, Location, Source};
use fengqiao_proto::fengqiao::events::v1::CaseRegistered;

use sqlx::Row;

use crate::clocks::Regimes;
use crate::rules::Rules;
use crate::{directory, RoutingService};

/// Routing (with default rules and clocks) over a fresh database holding the demo directory.
pub(crate) async fn routing(backend: Backend) -> (TestDatabase, RoutingService) {
    let test_db = TestDatabase::new(backend, "routing").await.unwrap();
    let mut all = PLATFORM_MIGRATIONS.to_vec();
    all.extend_from_slice(crate::Routing::MIGRATIONS);
    migrate::run(&test_db.db, &all).await.unwrap();
    let mut conn = test_db.db.writer().acquire().await.unwrap();
    directory::seed_demo(&mut conn).await.unwrap();
    drop(conn);
    // Following registrations and receipts asks no other service.
    let mediation = TracedChannel::new(tonic::transport::Endpoint::from_static("http://127.0.0.1:9").connect_lazy());
    let rules = Arc::new(Rules::load(None).unwrap());
    let service = RoutingService::new(test_db.db.clone(), OutboxNotifier::default(), mediation, rules, regimes());
    (test_db, service)
}

/// The default clock regimes.
pub(crate) fn regimes() -> Regimes {
    Regimes::new(Default::default()).unwrap()
}

/// The registration of case `case-{i:02}` (a dispute in `division` that came
/// through `source`), with its event's time.
pub(crate) fn registered(i: usize, division: &str, source: Source) -> (CaseRegistered, i64) {
    let ev = CaseRegistered {
        case_id: format!("case-{i:02}"),
        case_no: format!("620802-2026-{i:06}"),
        source_agency: "police-620802-dongguan".into(),
        risk_level: (i % 3) as i32,
        dispute: Some(Dispute {
            source: source as i32,
            location: Some(Location { division_code: division.into(), ..Default::default() }),
            ..Default::default()
        }),
        ..Default::default()
    };
    (ev, 1_790_000_000_000_000 + i as i64)
}

/// Every row the queries return, each as its values joined by " | " (text as
/// it is, numbers in decimal, NULL as "NULL").
pub(crate) async fn rows(db: &Database, queries: &[&'static str]) -> Vec<String> {
    let mut out = Vec::new();
    for sql in queries {
        for row in sqlx::query(*sql).fetch_all(db.pool()).await.unwrap() {
            let values: Vec<String> = (0..row.len())
                .map(|i| {
                    let text = row.try_get::<Option<String>, _>(i).map(|v| v.map(|v| v.to_string()));
                    text.or_else(|_| row.try_get::<Option<i64>, _>(i).map(|v| v.map(|v| v.to_string())))
                        .or_else(|_| row.try_get::<Option<i32>, _>(i).map(|v| v.map(|v| v.to_string())))
                        .unwrap()
                        .unwrap_or_else(|| "NULL".into())
                })
                .collect();
            out.push(values.join(" | "));
        }
    }
    out
}

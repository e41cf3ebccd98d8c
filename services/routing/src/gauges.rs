//! Routing's gauges for operators: clocks by state, clocks past their
//! deadline that the sweep has not yet breached, open alarms by kind, and the
//! referral moves not yet folded into the organisations' loads.

use async_trait::async_trait;
use fengqiao_platform::db::now_micros;
use fengqiao_platform::metrics::{Reading, Sampler, ALARMS_OPEN, CLOCKS, CLOCKS_DUE, LOAD_UNFOLDED};
use fengqiao_platform::Database;
use fengqiao_proto::fengqiao::routing::v1::ClockState;
use sqlx::Row;

use crate::alarms::AlarmKind;

/// Reads routing's gauges.
pub struct RoutingGauges;

/// The clock states shown, with their label.
const STATES: [(ClockState, &str); 3] =
    [(ClockState::Running, "running"), (ClockState::Paused, "paused"), (ClockState::Breached, "breached")];

#[async_trait]
impl Sampler for RoutingGauges {
    async fn sample(&self, db: &Database) -> anyhow::Result<Vec<Reading>> {
        let mut readings = Vec::new();
        for (state, label) in STATES {
            let n: i64 = sqlx::query("SELECT COUNT(*) FROM clocks WHERE state = $1")
                .bind(state as i32)
                .fetch_one(db.pool())
                .await?
                .try_get(0)?;
            readings.push(Reading::new(CLOCKS, n as f64).label("state", label));
        }
        let due: i64 = sqlx::query("SELECT COUNT(*) FROM clocks WHERE state = $1 AND due_at <= $2 AND fired = 0")
            .bind(ClockState::Running as i32)
            .bind(now_micros())
            .fetch_one(db.pool())
            .await?
            .try_get(0)?;
        readings.push(Reading::new(CLOCKS_DUE, due as f64));
        for kind in AlarmKind::ALL {
            let n: i64 = sqlx::query("SELECT COUNT(*) FROM alarms WHERE kind = $1 AND cleared_at IS NULL")
                .bind(kind.name())
                .fetch_one(db.pool())
                .await?
                .try_get(0)?;
            readings.push(Reading::new(ALARMS_OPEN, n as f64).label("kind", kind.name()));
        }
        let unfolded: i64 =
            sqlx::query("SELECT COUNT(*) FROM org_load_changes").fetch_one(db.pool()).await?.try_get(0)?;
        readings.push(Reading::new(LOAD_UNFOLDED, unfolded as f64));
        Ok(readings)
    }
}

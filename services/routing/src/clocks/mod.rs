//! The clocks of a case: started, paused, resumed and ended by the events
//! routing follows; warned and breached exactly once by sweeps, whatever the
//! number of routing replicas (a conditional update decides who announces it).

mod extend;
mod regimes;
mod sweep;

use fengqiao_domain::calendar::Calendar;
use fengqiao_domain::period::{ends_at, Period};
use fengqiao_platform::bus::Envelope;
use fengqiao_platform::db::timestamp;
use fengqiao_platform::outbox;
use fengqiao_proto::fengqiao::events::v1::ClockScheduled;
use fengqiao_proto::fengqiao::routing::v1::{Clock, ClockState};
use fengqiao_proto::EventKind;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

pub use extend::{extend, ExtendError};
pub use regimes::{Kind, Regimes};
pub use sweep::{alarm_missing, breach_due, warn_due};

/// What clocks are counted with: the holiday calendar and the warning share.
#[derive(Debug, Clone)]
pub struct Timing {
    /// Rest days and make-up working days.
    pub calendar: Calendar,
    /// A clock warns when this share of its span (percent) is left; 0 never.
    pub warn_percent: u32,
    /// How far consent may extend a pre-litigation clock in all, from its first deadline.
    pub pre_litigation_cap: Period,
    /// How far approval may extend a petition's handling, once.
    pub petition_cap: Period,
}

impl Timing {
    /// The national calendar, warning at the last fifth.
    pub fn national() -> Self {
        Self {
            calendar: Calendar::national(),
            warn_percent: 20,
            pre_litigation_cap: Period::Days(30),
            petition_cap: Period::Days(30),
        }
    }

    /// When a clock spanning `started..due` warns.
    fn warn_at(&self, started: i64, due: i64) -> Option<i64> {
        (self.warn_percent > 0).then(|| due - (due - started) / 100 * i64::from(self.warn_percent))
    }
}

pub(crate) use fengqiao_domain::period::instant;

pub(crate) fn micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000) as i64
}

/// Starts a clock of `kind` for a case at `now`; returns its id.
pub async fn start(
    conn: &mut AnyConnection,
    case_id: &str,
    kind: Kind,
    period_text: &str,
    timing: &Timing,
    now: i64,
) -> Result<String, sqlx::Error> {
    let clocks = plan(case_id, &[(kind, period_text)], timing, now)?;
    insert(conn, &clocks, now).await?;
    outbox::append(conn, &clocks[0].announcement()).await?;
    Ok(clocks[0].clock_id.clone())
}

/// A clock about to start: its row, not yet written.
#[derive(Debug, Clone)]
pub struct NewClock {
    case_id: String,
    clock_id: String,
    kind: Kind,
    period: String,
    due: i64,
    warn: Option<i64>,
}

impl NewClock {
    /// The event announcing its deadline (`fq.v1.clock.scheduled`).
    pub fn announcement(&self) -> Envelope {
        due_event(&self.case_id, &self.clock_id, self.kind.name(), self.due, "")
    }
}

/// A clock of each kind (with its period) for a case, starting at `now`.
pub fn plan(case_id: &str, clocks: &[(Kind, &str)], timing: &Timing, now: i64) -> Result<Vec<NewClock>, sqlx::Error> {
    clocks
        .iter()
        .map(|(kind, period_text)| {
            let period = Period::parse(period_text).map_err(sqlx::Error::Protocol)?;
            let due = micros(ends_at(instant(now), period, &timing.calendar));
            Ok(NewClock {
                case_id: case_id.to_string(),
                clock_id: uuid::Uuid::now_v7().to_string(),
                kind: *kind,
                period: period_text.to_string(),
                due,
                warn: timing.warn_at(now, due),
            })
        })
        .collect()
}

/// Writes `clocks`, started at `now`: one statement for up to
/// [`ROWS_PER_STATEMENT`](fengqiao_platform::db::ROWS_PER_STATEMENT) of them.
pub async fn insert(conn: &mut AnyConnection, clocks: &[NewClock], now: i64) -> Result<(), sqlx::Error> {
    for chunk in clocks.chunks(fengqiao_platform::db::ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO clocks (started_at, state, case_id, clock_id, kind, period, due_at, warn_at) VALUES {}",
            fengqiao_platform::db::values(conn, chunk.len(), 8)
        );
        let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
        for c in chunk {
            insert = insert
                .bind(now)
                .bind(ClockState::Running as i32)
                .bind(&c.case_id)
                .bind(&c.clock_id)
                .bind(c.kind.name())
                .bind(&c.period)
                .bind(c.due)
                .bind(c.warn);
        }
        insert.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Announces a clock's (new) deadline: `fq.v1.clock.scheduled`.
async fn announce_due(
    conn: &mut AnyConnection,
    case_id: &str,
    clock_id: &str,
    kind: &str,
    due: i64,
    reason: &str,
) -> Result<(), sqlx::Error> {
    outbox::append(conn, &due_event(case_id, clock_id, kind, due, reason)).await
}

/// The event announcing a clock's (new) deadline.
fn due_event(case_id: &str, clock_id: &str, kind: &str, due: i64, reason: &str) -> Envelope {
    let event = ClockScheduled {
        case_id: case_id.to_string(),
        clock_id: clock_id.to_string(),
        kind: kind.to_string(),
        due_at: Some(timestamp(due)),
        reason: reason.to_string(),
    };
    Envelope::new("routing", EventKind::ClockScheduled, &event)
}

/// Ends the case's running or paused clocks of `kinds` as `state` (MET or
/// STOPPED) and clears their warning and overdue alarms.
pub async fn end(
    conn: &mut AnyConnection,
    case_id: &str,
    kinds: &[Kind],
    state: ClockState,
    now: i64,
) -> Result<(), sqlx::Error> {
    for kind in kinds {
        sqlx::query(
            "UPDATE clocks SET state = $1, ended_at = $2 WHERE case_id = $3 AND kind = $4 AND state IN ($5, $6)",
        )
        .bind(state as i32)
        .bind(now)
        .bind(case_id)
        .bind(kind.name())
        .bind(ClockState::Running as i32)
        .bind(ClockState::Paused as i32)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "UPDATE alarms SET cleared_at = $1 WHERE cleared_at IS NULL AND kind IN ('OVERDUE', 'WARNING')
             AND subject_id IN (SELECT clock_id FROM clocks WHERE case_id = $2 AND kind = $3)",
        )
        .bind(now)
        .bind(case_id)
        .bind(kind.name())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Ends one running or paused clock as `state` (MET or STOPPED) and clears
/// its alarms; false when it had ended.
pub async fn end_one(
    conn: &mut AnyConnection,
    clock_id: &str,
    state: ClockState,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let met = sqlx::query("UPDATE clocks SET state = $1, ended_at = $2 WHERE clock_id = $3 AND state IN ($4, $5)")
        .bind(state as i32)
        .bind(now)
        .bind(clock_id)
        .bind(ClockState::Running as i32)
        .bind(ClockState::Paused as i32)
        .execute(&mut *conn)
        .await?
        .rows_affected()
        == 1;
    sqlx::query(
        "UPDATE alarms SET cleared_at = $1 WHERE cleared_at IS NULL AND kind IN ('OVERDUE', 'WARNING') AND subject_id = $2",
    )
    .bind(now)
    .bind(clock_id)
    .execute(&mut *conn)
    .await?;
    Ok(met)
}

/// Pauses the case's running clocks of `kind`.
pub async fn pause(conn: &mut AnyConnection, case_id: &str, kind: Kind, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE clocks SET state = $1, paused_at = $2 WHERE case_id = $3 AND kind = $4 AND state = $5")
        .bind(ClockState::Paused as i32)
        .bind(now)
        .bind(case_id)
        .bind(kind.name())
        .bind(ClockState::Running as i32)
        .execute(conn)
        .await?;
    Ok(())
}

/// Resumes the case's paused clocks of `kind`; the time paused moves the
/// deadline and the warning, which is announced.
pub async fn resume(conn: &mut AnyConnection, case_id: &str, kind: Kind, now: i64) -> Result<(), sqlx::Error> {
    let paused: Vec<(String, i64)> = sqlx::query_as(
        "SELECT clock_id, due_at + ($1 - paused_at) FROM clocks WHERE case_id = $2 AND kind = $3 AND state = $4",
    )
    .bind(now)
    .bind(case_id)
    .bind(kind.name())
    .bind(ClockState::Paused as i32)
    .fetch_all(&mut *conn)
    .await?;
    for (clock_id, due) in &paused {
        announce_due(conn, case_id, clock_id, kind.name(), *due, "").await?;
    }
    sqlx::query(
        "UPDATE clocks SET state = $1, due_at = due_at + ($2 - paused_at), warn_at = warn_at + ($2 - paused_at),
         paused_at = NULL WHERE case_id = $3 AND kind = $4 AND state = $5",
    )
    .bind(ClockState::Running as i32)
    .bind(now)
    .bind(case_id)
    .bind(kind.name())
    .bind(ClockState::Paused as i32)
    .execute(conn)
    .await?;
    Ok(())
}

fn from_row(r: &AnyRow) -> Result<Clock, sqlx::Error> {
    Ok(Clock {
        clock_id: r.try_get("clock_id")?,
        case_id: r.try_get("case_id")?,
        kind: r.try_get("kind")?,
        period: r.try_get("period")?,
        started_at: Some(timestamp(r.try_get("started_at")?)),
        due_at: Some(timestamp(r.try_get("due_at")?)),
        state: r.try_get("state")?,
        ended_at: r.try_get::<Option<i64>, _>("ended_at")?.map(timestamp),
        extensions: Vec::new(),
    })
}

/// A case's clocks, oldest first, with their extensions.
pub async fn of_case(conn: &mut AnyConnection, case_id: &str) -> Result<Vec<Clock>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT clock_id, case_id, kind, period, started_at, due_at, state, ended_at FROM clocks
         WHERE case_id = $1 ORDER BY started_at, kind",
    )
    .bind(case_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut clocks = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    for clock in &mut clocks {
        clock.extensions = extend::extensions(&mut *conn, &clock.clock_id).await?;
    }
    Ok(clocks)
}

/// One clock with its extensions.
pub async fn find(conn: &mut AnyConnection, clock_id: &str) -> Result<Option<Clock>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT clock_id, case_id, kind, period, started_at, due_at, state, ended_at FROM clocks WHERE clock_id = $1",
    )
    .bind(clock_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let mut clock = from_row(&row)?;
    clock.extensions = extend::extensions(&mut *conn, clock_id).await?;
    Ok(Some(clock))
}

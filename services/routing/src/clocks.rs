//! The clocks of a case: started, paused, resumed and ended by the events
//! routing follows; breached exactly once by a sweep, whatever the number of
//! routing replicas (a conditional update decides who announces it).

use fengqiao_domain::calendar::Calendar;
use fengqiao_domain::period::{ends_at, Period};
use fengqiao_platform::bus::Envelope;
use fengqiao_platform::config::ClockRegimes;
use fengqiao_platform::db::timestamp;
use fengqiao_platform::outbox;
use fengqiao_platform::status::Violation;
use fengqiao_platform::Database;
use fengqiao_proto::fengqiao::common::v1::Actor;
use fengqiao_proto::fengqiao::events::v1::{ClockBreached, ClockMissing};
use fengqiao_proto::fengqiao::routing::v1::{Clock, ClockExtension, ClockState};
use fengqiao_proto::EventKind;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

/// What a clock times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// From acceptance to conclusion, people's mediation.
    PeoplesMediation,
    /// From acceptance to conclusion, pre-litigation delegation.
    PreLitigation,
    /// From acceptance to conclusion, in-litigation entrustment.
    InLitigation,
    /// From registration to an organisation's acceptance, for a police hand-off.
    PoliceFeedback,
    /// From registration to an organisation's acceptance, by risk colour.
    RiskResponse,
}

impl Kind {
    /// Its name in the API.
    pub fn name(self) -> &'static str {
        match self {
            Kind::PeoplesMediation => "PEOPLES_MEDIATION",
            Kind::PreLitigation => "PRE_LITIGATION",
            Kind::InLitigation => "IN_LITIGATION",
            Kind::PoliceFeedback => "POLICE_FEEDBACK",
            Kind::RiskResponse => "RISK_RESPONSE",
        }
    }
}

/// The configured periods, read once and checked at start.
#[derive(Debug, Clone)]
pub struct Regimes {
    raw: ClockRegimes,
}

impl Regimes {
    /// Checks every period; the error names the key.
    pub fn new(raw: ClockRegimes) -> Result<Self, String> {
        for (key, text) in [
            ("peoples_mediation", &raw.peoples_mediation),
            ("pre_litigation", &raw.pre_litigation),
            ("in_litigation", &raw.in_litigation),
            ("police_feedback", &raw.police_feedback),
            ("risk_red", &raw.risk_red),
            ("risk_orange", &raw.risk_orange),
            ("risk_yellow", &raw.risk_yellow),
            ("risk_blue", &raw.risk_blue),
        ] {
            Period::parse(text).map_err(|e| format!("configuration key `clocks.{key}`: {e}"))?;
        }
        Ok(Self { raw })
    }

    /// The period text of a kind (for risk, of a colour: RED, ORANGE, YELLOW, BLUE).
    pub fn period(&self, kind: Kind, risk: &str) -> &str {
        match kind {
            Kind::PeoplesMediation => &self.raw.peoples_mediation,
            Kind::PreLitigation => &self.raw.pre_litigation,
            Kind::InLitigation => &self.raw.in_litigation,
            Kind::PoliceFeedback => &self.raw.police_feedback,
            Kind::RiskResponse => match risk {
                "RED" => &self.raw.risk_red,
                "ORANGE" => &self.raw.risk_orange,
                "YELLOW" => &self.raw.risk_yellow,
                _ => &self.raw.risk_blue,
            },
        }
    }
}

fn instant(micros: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).expect("instants in range")
}

fn micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000) as i64
}

/// Starts a clock of `kind` for a case at `now`.
pub async fn start(
    conn: &mut AnyConnection,
    case_id: &str,
    kind: Kind,
    period_text: &str,
    calendar: &Calendar,
    now: i64,
) -> Result<(), sqlx::Error> {
    let period = Period::parse(period_text).map_err(sqlx::Error::Protocol)?;
    let due = micros(ends_at(instant(now), period, calendar));
    sqlx::query(
        "INSERT INTO clocks (clock_id, case_id, kind, period, started_at, due_at, state) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(case_id)
    .bind(kind.name())
    .bind(period_text)
    .bind(now)
    .bind(due)
    .bind(ClockState::Running as i32)
    .execute(conn)
    .await?;
    Ok(())
}

/// Ends the case's running or paused clocks of `kinds` as `state` (MET or STOPPED).
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
    }
    Ok(())
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

/// Resumes the case's paused clocks of `kind`; the time paused moves the deadline.
pub async fn resume(conn: &mut AnyConnection, case_id: &str, kind: Kind, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE clocks SET state = $1, due_at = due_at + ($2 - paused_at), paused_at = NULL
         WHERE case_id = $3 AND kind = $4 AND state = $5",
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

/// The extensions of a clock, oldest first.
async fn extensions(conn: &mut AnyConnection, clock_id: &str) -> Result<Vec<ClockExtension>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT period, consented_by, reason, actor_org, actor_person, extended_at FROM clock_extensions
         WHERE clock_id = $1 ORDER BY extended_at",
    )
    .bind(clock_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let consented: String = r.try_get("consented_by")?;
            Ok(ClockExtension {
                period: r.try_get("period")?,
                consented_by: consented.split('|').map(str::to_string).collect(),
                reason: r.try_get("reason")?,
                actor: Some(Actor { org_id: r.try_get("actor_org")?, person_id: r.try_get("actor_person")? }),
                extended_at: Some(timestamp(r.try_get("extended_at")?)),
            })
        })
        .collect()
}

/// Why an extension cannot be recorded.
#[derive(Debug)]
pub enum ExtendError {
    /// Bad input.
    Invalid(Vec<Violation>),
    /// No such clock.
    NotFound,
    /// The clock has ended.
    Ended,
    /// The database failed.
    Sql(sqlx::Error),
}

impl From<sqlx::Error> for ExtendError {
    fn from(e: sqlx::Error) -> Self {
        Self::Sql(e)
    }
}

/// Extends a running or paused clock by `period`, counted from its old last
/// day, recording who consented and why.
#[allow(clippy::too_many_arguments)]
pub async fn extend(
    db: &Database,
    clock_id: &str,
    period_text: &str,
    consented_by: &[String],
    reason: &str,
    actor: Option<Actor>,
    calendar: &Calendar,
    now: i64,
) -> Result<Clock, ExtendError> {
    let actor = actor.unwrap_or_default();
    let mut v = Vec::new();
    let period = Period::parse(period_text);
    if let Err(e) = &period {
        v.push(Violation::new("period", e.clone()));
    }
    if period == Ok(Period::SameDay) {
        v.push(Violation::new("period", "an extension is hours:N, days:N, working_days:N or months:N"));
    }
    if consented_by.is_empty() || consented_by.iter().any(|c| c.trim().is_empty() || c.contains('|')) {
        v.push(Violation::new("consented_by", "must name who consented, at least one"));
    }
    if reason.trim().is_empty() {
        v.push(Violation::new("reason", "is required"));
    }
    if actor.org_id.trim().is_empty() {
        v.push(Violation::new("actor.org_id", "is required: who records the extension"));
    }
    if !v.is_empty() {
        return Err(ExtendError::Invalid(v));
    }
    let period = period.expect("checked");
    let mut tx = db.begin().await?;
    let row: Option<(i64, i32)> = sqlx::query_as("SELECT due_at, state FROM clocks WHERE clock_id = $1")
        .bind(clock_id)
        .fetch_optional(&mut *tx)
        .await?;
    let (due, state) = row.ok_or(ExtendError::NotFound)?;
    if state != ClockState::Running as i32 && state != ClockState::Paused as i32 {
        return Err(ExtendError::Ended);
    }
    // The old deadline is the end of the old last day; count on from that day.
    let new_due = micros(ends_at(instant(due - 1), period, calendar));
    sqlx::query("UPDATE clocks SET due_at = $1 WHERE clock_id = $2")
        .bind(new_due)
        .bind(clock_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO clock_extensions (clock_id, period, consented_by, reason, actor_org, actor_person, extended_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(clock_id)
    .bind(period_text)
    .bind(consented_by.iter().map(|c| c.trim()).collect::<Vec<_>>().join("|"))
    .bind(reason.trim())
    .bind(&actor.org_id)
    .bind(&actor.person_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut conn = db.pool().acquire().await?;
    let case_id: String = sqlx::query_scalar("SELECT case_id FROM clocks WHERE clock_id = $1")
        .bind(clock_id)
        .fetch_one(&mut *conn)
        .await?;
    let clock = of_case(&mut conn, &case_id)
        .await?
        .into_iter()
        .find(|c| c.clock_id == clock_id)
        .ok_or(ExtendError::NotFound)?;
    Ok(clock)
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
        clock.extensions = extensions(&mut *conn, &clock.clock_id).await?;
    }
    Ok(clocks)
}

/// Breaches every running clock due by `now`, each once: the clock and its
/// `fq.v1.clock.breached` event commit together, and only the transaction
/// that flips `fired` announces it. Returns how many this call breached.
pub async fn breach_due(db: &Database, now: i64) -> Result<usize, sqlx::Error> {
    let due: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT clock_id, case_id, kind, due_at FROM clocks WHERE state = $1 AND due_at <= $2 AND fired = 0
         ORDER BY due_at LIMIT 200",
    )
    .bind(ClockState::Running as i32)
    .bind(now)
    .fetch_all(db.pool())
    .await?;
    let mut breached = 0;
    for (clock_id, case_id, kind, due_at) in due {
        let mut tx = db.begin().await?;
        let won = sqlx::query(
            "UPDATE clocks SET fired = 1, state = $1, ended_at = $2 WHERE clock_id = $3 AND fired = 0 AND state = $4",
        )
        .bind(ClockState::Breached as i32)
        .bind(now)
        .bind(&clock_id)
        .bind(ClockState::Running as i32)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if won {
            let event = ClockBreached { case_id, clock_id, kind, due_at: Some(timestamp(due_at)) };
            outbox::append(&mut tx, &Envelope::new("routing", EventKind::ClockBreached, &event)).await?;
            breached += 1;
        }
        tx.commit().await?;
    }
    Ok(breached)
}

/// Raises `fq.v1.clock.missing` once for each referral being worked on
/// (ACCEPTED, IN_PROGRESS, ON_HOLD) whose case has no running or paused
/// mediation clock. Returns how many alarms this call raised.
pub async fn alarm_missing(db: &Database, now: i64) -> Result<usize, sqlx::Error> {
    let missing: Vec<(String, String)> = sqlx::query_as(
        "SELECT r.referral_id, r.case_id FROM referrals r
         WHERE r.state IN (3, 5, 6)
           AND NOT EXISTS (SELECT 1 FROM clocks c WHERE c.case_id = r.case_id
                           AND c.kind IN ('PEOPLES_MEDIATION', 'PRE_LITIGATION', 'IN_LITIGATION') AND c.state IN ($1, $2))
           AND NOT EXISTS (SELECT 1 FROM missing_clock_alarms a WHERE a.referral_id = r.referral_id)
         LIMIT 200",
    )
    .bind(ClockState::Running as i32)
    .bind(ClockState::Paused as i32)
    .fetch_all(db.pool())
    .await?;
    let mut raised = 0;
    for (referral_id, case_id) in missing {
        let mut tx = db.begin().await?;
        let first = sqlx::query(
            "INSERT INTO missing_clock_alarms (referral_id, raised_at) VALUES ($1, $2) ON CONFLICT (referral_id) DO NOTHING",
        )
        .bind(&referral_id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if first {
            let event = ClockMissing { case_id, referral_id, kind: "MEDIATION".into() };
            outbox::append(&mut tx, &Envelope::new("routing", EventKind::ClockMissing, &event)).await?;
            tracing::error!(alarm = "clock_missing", "a referral is worked on without its mediation clock");
            raised += 1;
        }
        tx.commit().await?;
    }
    Ok(raised)
}

//! Alarms: raised once per subject (across replicas), cleared when what they
//! were about is over, listed for supervisors.

use fengqiao_platform::bus::Envelope;
use fengqiao_platform::db::timestamp;
use fengqiao_platform::outbox;
use fengqiao_proto::fengqiao::events::v1::AlarmRaised;
use fengqiao_proto::fengqiao::supervision::v1::Alarm;
use fengqiao_proto::EventKind;
use sqlx::{Any, AnyConnection, Row, Transaction};

/// What an alarm is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmKind {
    /// A clock was breached (subject: the clock).
    Overdue,
    /// A clock entered its last share (subject: the clock).
    Warning,
    /// A referral is worked on without its clock (subject: the referral).
    ClockMissing,
    /// A referral has not moved for too long (subject: the referral).
    StuckCase,
    /// An event sits in a dead-letter record (subject: `consumer/event id`).
    DeadLetter,
    /// A RED case has no leader owner (subject: the case).
    RedUnowned,
}

impl AlarmKind {
    /// Every kind.
    pub const ALL: [AlarmKind; 6] = [
        AlarmKind::Overdue,
        AlarmKind::Warning,
        AlarmKind::ClockMissing,
        AlarmKind::StuckCase,
        AlarmKind::DeadLetter,
        AlarmKind::RedUnowned,
    ];

    /// Its name in the API.
    pub fn name(self) -> &'static str {
        match self {
            AlarmKind::Overdue => "OVERDUE",
            AlarmKind::Warning => "WARNING",
            AlarmKind::ClockMissing => "CLOCK_MISSING",
            AlarmKind::StuckCase => "STUCK_CASE",
            AlarmKind::DeadLetter => "DEAD_LETTER",
            AlarmKind::RedUnowned => "RED_UNOWNED",
        }
    }

    /// Kinds without an event of their own are announced as `fq.v1.alarm.raised`.
    fn announced(self) -> bool {
        matches!(self, AlarmKind::StuckCase | AlarmKind::RedUnowned)
    }
}

/// Raises an alarm, or re-opens a cleared one with the same subject; true
/// when this call raised it (an open alarm stays as it is).
pub async fn raise(
    tx: &mut Transaction<'static, Any>,
    case_id: &str,
    kind: AlarmKind,
    subject_id: &str,
    detail: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let raised = sqlx::query(
        "INSERT INTO alarms (alarm_id, case_id, kind, subject_id, detail, raised_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (kind, subject_id) DO UPDATE SET cleared_at = NULL, raised_at = excluded.raised_at,
             detail = excluded.detail
         WHERE alarms.cleared_at IS NOT NULL",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(case_id)
    .bind(kind.name())
    .bind(subject_id)
    .bind(detail)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    if raised && kind.announced() {
        let alarm_id: String = sqlx::query_scalar("SELECT alarm_id FROM alarms WHERE kind = $1 AND subject_id = $2")
            .bind(kind.name())
            .bind(subject_id)
            .fetch_one(&mut **tx)
            .await?;
        let event = AlarmRaised {
            case_id: case_id.into(),
            alarm_id,
            kind: kind.name().into(),
            subject_id: subject_id.into(),
            detail: detail.into(),
        };
        outbox::append(tx, &Envelope::new("routing", EventKind::AlarmRaised, &event)).await?;
    }
    if raised {
        tracing::warn!(alarm = kind.name(), case_id, subject_id, "alarm raised");
    }
    Ok(raised)
}

/// Clears the open alarm of `kind` about `subject_id`, if any.
pub async fn clear(conn: &mut AnyConnection, kind: AlarmKind, subject_id: &str, now: i64) -> Result<(), sqlx::Error> {
    clear_all(conn, kind, &[subject_id], now).await
}

/// Clears the open alarms of `kind` about any of `subject_ids`, in one
/// statement for up to [`ROWS_PER_STATEMENT`](fengqiao_platform::db::ROWS_PER_STATEMENT) of them.
pub async fn clear_all(
    conn: &mut AnyConnection,
    kind: AlarmKind,
    subject_ids: &[&str],
    now: i64,
) -> Result<(), sqlx::Error> {
    for chunk in subject_ids.chunks(fengqiao_platform::db::ROWS_PER_STATEMENT) {
        let sql = format!(
            "UPDATE alarms SET cleared_at = $1 WHERE kind = $2 AND subject_id IN ({}) AND cleared_at IS NULL",
            fengqiao_platform::db::placeholders(3, chunk.len())
        );
        let update = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now).bind(kind.name());
        fengqiao_platform::db::bind_padded(update, chunk).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Which alarms to list.
#[derive(Debug, Default)]
pub struct Filter<'a> {
    /// Only this kind's name; empty for all.
    pub kind: &'a str,
    /// Only this case; empty for all.
    pub case_id: &'a str,
    /// Cleared ones too.
    pub include_cleared: bool,
    /// Only alarms older than this id (newest first paging); empty from the start.
    pub before_id: &'a str,
    /// At most this many.
    pub limit: i64,
    /// Only alarms of cases placed under this division-code prefix; empty for all.
    pub division_prefix: &'a str,
}

/// Alarms, newest first.
pub async fn list(conn: &mut AnyConnection, f: &Filter<'_>) -> Result<Vec<Alarm>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT alarm_id, case_id, kind, subject_id, detail, raised_at, cleared_at FROM alarms
         WHERE ($1 = '' OR kind = $1) AND ($2 = '' OR case_id = $2) AND ($3 = 1 OR cleared_at IS NULL)
           AND ($4 = '' OR alarm_id < $4)
           AND ($6 = '' OR case_id IN (SELECT case_id FROM routed_cases WHERE division_code LIKE $6 || '%'))
         ORDER BY alarm_id DESC LIMIT $5",
    )
    .bind(f.kind)
    .bind(f.case_id)
    .bind(i32::from(f.include_cleared))
    .bind(f.before_id)
    .bind(f.limit)
    .bind(f.division_prefix)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Alarm {
                alarm_id: r.try_get("alarm_id")?,
                case_id: r.try_get("case_id")?,
                kind: r.try_get("kind")?,
                subject_id: r.try_get("subject_id")?,
                detail: r.try_get("detail")?,
                raised_at: Some(timestamp(r.try_get("raised_at")?)),
                cleared_at: r.try_get::<Option<i64>, _>("cleared_at")?.map(timestamp),
            })
        })
        .collect()
}

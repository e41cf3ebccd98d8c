//! Mediation sessions (调解会): scheduled in person or online, rescheduled with
//! a reason, recorded once held with who did not appear. None is recorded once
//! the mediation has ended — after a party's refusal (art. 17) above all.

use fengqiao_platform::db::{micros_of, timestamp};
use fengqiao_platform::status::Violation;
use fengqiao_proto::fengqiao::common::v1::{Actor, MediationOutcome, ReferralState};
use fengqiao_proto::fengqiao::mediation::v1::{
    RecordSessionRequest, Reschedule, RescheduleSessionRequest, ScheduleSessionRequest, Session, SessionState,
};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::access::{self, Who, UNDER_WAY, WORKING};
use crate::store::Stored;
use crate::{MediationError, MediationService};

fn numbers(text: &str) -> Vec<u32> {
    text.split(',').filter_map(|n| n.parse().ok()).collect()
}

fn join_numbers(numbers: &[u32]) -> String {
    numbers.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

fn from_row(r: &AnyRow) -> Result<Session, sqlx::Error> {
    let participants: String = r.try_get("participant_ids")?;
    Ok(Session {
        session_id: r.try_get("session_id")?,
        referral_id: r.try_get("referral_id")?,
        org_id: r.try_get("org_id")?,
        state: r.try_get("state")?,
        scheduled_at: Some(timestamp(r.try_get("scheduled_at")?)),
        place: r.try_get("place")?,
        online_link: r.try_get("online_link")?,
        party_numbers: numbers(&r.try_get::<String, _>("party_numbers")?),
        participant_ids: participants.split('|').filter(|p| !p.is_empty()).map(str::to_string).collect(),
        record: r.try_get("record")?,
        absent_party_numbers: numbers(&r.try_get::<String, _>("absent_party_numbers")?),
        held_at: r.try_get::<Option<i64>, _>("held_at")?.map(timestamp),
        reschedules: Vec::new(),
    })
}

const COLUMNS: &str = "session_id, referral_id, org_id, state, scheduled_at, place, online_link, party_numbers, \
                       participant_ids, record, absent_party_numbers, held_at";

async fn reschedules(conn: &mut AnyConnection, session_id: &str) -> Result<Vec<Reschedule>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT from_at, to_at, reason, actor_org, actor_person FROM session_reschedules
         WHERE session_id = $1 ORDER BY changed_at",
    )
    .bind(session_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Reschedule {
                from_time: Some(timestamp(r.try_get("from_at")?)),
                to_time: Some(timestamp(r.try_get("to_at")?)),
                reason: r.try_get("reason")?,
                actor: Some(Actor { org_id: r.try_get("actor_org")?, person_id: r.try_get("actor_person")? }),
            })
        })
        .collect()
}

async fn find(conn: &mut AnyConnection, session_id: &str) -> Result<Option<Session>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM sessions WHERE session_id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(session_id).fetch_optional(&mut *conn).await?;
    let Some(row) = row else { return Ok(None) };
    let mut session = from_row(&row)?;
    session.reschedules = reschedules(conn, session_id).await?;
    Ok(Some(session))
}

/// A referral's sessions, by scheduled time.
pub(crate) async fn of_referral(conn: &mut AnyConnection, referral_id: &str) -> Result<Vec<Session>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM sessions WHERE referral_id = $1 ORDER BY scheduled_at, session_id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(referral_id).fetch_all(&mut *conn).await?;
    let mut sessions = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    for s in &mut sessions {
        s.reschedules = reschedules(conn, &s.session_id).await?;
    }
    Ok(sessions)
}

/// Violations for party numbers outside 1..=count.
fn check_parties(field: &str, list: &[u32], count: u32, v: &mut Vec<Violation>) {
    for (i, n) in list.iter().enumerate() {
        if *n == 0 || *n > count {
            v.push(Violation::new(format!("{field}[{i}]"), format!("party {n} does not exist; the case has {count}")));
        }
    }
}

/// The session and its referral, if `actor` may act on them; the referral is
/// held against changes until `conn`'s transaction ends.
async fn load(conn: &mut AnyConnection, session_id: &str, actor: &Actor) -> Result<(Session, Stored), MediationError> {
    let session = find(&mut *conn, session_id).await?.ok_or(MediationError::NotFound)?;
    let stored = access::load_for_change(conn, &session.referral_id, actor, Who::LeadOrJoined).await?;
    Ok((session, stored))
}

/// FAILED_PRECONDITION unless a session can be recorded now; a refusal says so.
fn require_under_way(stored: &Stored, doing: &str) -> Result<(), MediationError> {
    if access::state(stored) == ReferralState::Completed && stored.item.outcome == MediationOutcome::PartyRefused as i32
    {
        return Err(MediationError::Precondition(format!(
            "cannot {doing}: a party refused mediation, which ended it (People's Mediation Law art. 17)"
        )));
    }
    access::require(stored, &UNDER_WAY, doing)
}

impl MediationService {
    /// Schedules a session.
    pub async fn schedule_session(&self, r: ScheduleSessionRequest) -> Result<Session, MediationError> {
        let actor = r.actor.clone().unwrap_or_default();
        let mut tx = self.db.begin().await?;
        let stored = access::load_for_change(&mut tx, &r.referral_id, &actor, Who::LeadOrJoined).await?;
        let mut v = Vec::new();
        let at = r.scheduled_at.as_ref().map(micros_of);
        if at.is_none() {
            v.push(Violation::new("scheduled_at", "is required"));
        }
        if r.place.trim().is_empty() && r.online_link.trim().is_empty() {
            v.push(Violation::new("place", "a place or an online_link is required"));
        }
        if r.party_numbers.is_empty() {
            v.push(Violation::new("party_numbers", "name at least one party expected, by number (1 = first)"));
        }
        check_parties("party_numbers", &r.party_numbers, stored.party_count(), &mut v);
        if r.participant_ids.iter().any(|p| p.trim().is_empty() || p.contains('|')) {
            v.push(Violation::new("participant_ids", "each is an id, without `|`"));
        }
        if !v.is_empty() {
            return Err(MediationError::Invalid(v));
        }
        if access::state(&stored) == ReferralState::Completed {
            require_under_way(&stored, "schedule a session")?;
        }
        access::require(&stored, &WORKING, "schedule a session")?;
        let session_id = uuid::Uuid::now_v7().to_string();
        sqlx::query(
            "INSERT INTO sessions (session_id, referral_id, org_id, state, scheduled_at, place, online_link,
                 party_numbers, participant_ids, record, absent_party_numbers, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, '', '', $10)",
        )
        .bind(&session_id)
        .bind(&r.referral_id)
        .bind(&actor.org_id)
        .bind(SessionState::Scheduled as i32)
        .bind(at.expect("checked"))
        .bind(r.place.trim())
        .bind(r.online_link.trim())
        .bind(join_numbers(&r.party_numbers))
        .bind(r.participant_ids.join("|"))
        .bind(self.now())
        .execute(&mut *tx)
        .await?;
        let session = find(&mut tx, &session_id).await?.expect("just written");
        tx.commit().await?;
        Ok(session)
    }

    /// Moves a scheduled session to another time.
    pub async fn reschedule_session(&self, r: RescheduleSessionRequest) -> Result<Session, MediationError> {
        let actor = r.actor.clone().unwrap_or_default();
        let mut v = Vec::new();
        let at = r.scheduled_at.as_ref().map(micros_of);
        if at.is_none() {
            v.push(Violation::new("scheduled_at", "is required: the new time"));
        }
        if r.reason.trim().is_empty() {
            v.push(Violation::new("reason", "is required: why the session moves"));
        }
        if !v.is_empty() {
            return Err(MediationError::Invalid(v));
        }
        let mut tx = self.db.begin().await?;
        let (session, stored) = load(&mut tx, &r.session_id, &actor).await?;
        access::require(&stored, &WORKING, "reschedule a session")?;
        if session.state != SessionState::Scheduled as i32 {
            return Err(MediationError::Precondition("the session was held; schedule a new one instead".into()));
        }
        let from = session.scheduled_at.as_ref().map_or(0, micros_of);
        sqlx::query(
            "INSERT INTO session_reschedules (session_id, from_at, to_at, reason, actor_org, actor_person, changed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&r.session_id)
        .bind(from)
        .bind(at.expect("checked"))
        .bind(r.reason.trim())
        .bind(&actor.org_id)
        .bind(&actor.person_id)
        .bind(self.now())
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE sessions SET scheduled_at = $1 WHERE session_id = $2")
            .bind(at.expect("checked"))
            .bind(&r.session_id)
            .execute(&mut *tx)
            .await?;
        let session = find(&mut tx, &r.session_id).await?.expect("exists");
        tx.commit().await?;
        Ok(session)
    }

    /// Records a scheduled session as held.
    pub async fn record_session(&self, r: RecordSessionRequest) -> Result<Session, MediationError> {
        let actor = r.actor.clone().unwrap_or_default();
        let mut tx = self.db.begin().await?;
        let (session, stored) = load(&mut tx, &r.session_id, &actor).await?;
        let mut v = Vec::new();
        if r.record.trim().is_empty() {
            v.push(Violation::new("record", "is required: what was said and done"));
        }
        for (i, n) in r.absent_party_numbers.iter().enumerate() {
            if !session.party_numbers.contains(n) {
                v.push(Violation::new(
                    format!("absent_party_numbers[{i}]"),
                    format!("party {n} was not expected at this session"),
                ));
            }
        }
        if !v.is_empty() {
            return Err(MediationError::Invalid(v));
        }
        require_under_way(&stored, "record a session")?;
        if session.state != SessionState::Scheduled as i32 {
            return Err(MediationError::Precondition("the session is already recorded".into()));
        }
        let now = self.now();
        let updated = sqlx::query(
            "UPDATE sessions SET state = $1, record = $2, absent_party_numbers = $3, held_at = $4
             WHERE session_id = $5 AND state = $6",
        )
        .bind(SessionState::Held as i32)
        .bind(r.record.trim())
        .bind(join_numbers(&r.absent_party_numbers))
        .bind(now)
        .bind(&r.session_id)
        .bind(SessionState::Scheduled as i32)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated != 1 {
            return Err(MediationError::Precondition("the session is already recorded".into()));
        }
        let session = find(&mut tx, &r.session_id).await?.expect("exists");
        tx.commit().await?;
        Ok(session)
    }
}

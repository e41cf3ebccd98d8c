//! Supervision: alarms for supervisors, leader ownership of RED cases,
//! supervision notices with response clocks, the stuck-case sweep, re-driving
//! a stuck case, and the county's figures.

pub mod facts;
pub mod figures;
mod grpc;
mod notices;
mod owners;

use fengqiao_domain::period::Period;
use fengqiao_platform::bus::Envelope;
use fengqiao_platform::config::SupervisionSettings;
use fengqiao_platform::db::now_micros;
use fengqiao_platform::outbox::{self, OutboxNotifier};
use fengqiao_platform::status::Violation;
use fengqiao_platform::Database;
use fengqiao_proto::fengqiao::common::v1::{Actor, ReferralState, RiskLevel};
use fengqiao_proto::fengqiao::events::v1::{
    CaseOwnerAssigned, EventDeadLettered, EventReplayed, SupervisionNoticeIssued,
};
use fengqiao_proto::fengqiao::routing::v1::ClockState;
use fengqiao_proto::fengqiao::supervision::v1::{Alarm, CaseOwner, Dimension, SupervisionNotice, UnitFigures};
use fengqiao_proto::EventKind;
use sqlx::{Any, Transaction};

use crate::alarms::{self, AlarmKind, Filter};
use crate::clocks::{self, Kind as ClockKind, Regimes};
use crate::{organisations, store, RoutingError};

pub use figures::ReportPeriod;
pub use grpc::SupervisionGrpc;

/// Referral states in which a case waits on someone.
const OPEN_STATES: [ReferralState; 5] = [
    ReferralState::Requested,
    ReferralState::Received,
    ReferralState::Accepted,
    ReferralState::InProgress,
    ReferralState::OnHold,
];

/// Supervision over routing's database.
#[derive(Clone)]
pub struct Supervision {
    db: Database,
    outbox: OutboxNotifier,
    regimes: Regimes,
    settings: SupervisionSettings,
}

fn required(v: &mut Vec<Violation>, field: &str, value: &str, why: &str) {
    if value.trim().is_empty() {
        v.push(Violation::new(field, format!("is required: {why}")));
    }
}

fn check(v: Vec<Violation>) -> Result<(), RoutingError> {
    if v.is_empty() {
        Ok(())
    } else {
        Err(RoutingError::Invalid(v))
    }
}

impl Supervision {
    /// Supervision over `db`.
    pub fn new(db: Database, outbox: OutboxNotifier, regimes: Regimes, settings: SupervisionSettings) -> Self {
        Self { db, outbox, regimes, settings }
    }

    /// Alarms, newest first, and the next page's token.
    pub async fn alarms(
        &self,
        kind: &str,
        case_id: &str,
        include_cleared: bool,
        page_size: u32,
        page_token: &str,
        division_prefix: &str,
    ) -> Result<(Vec<Alarm>, String), RoutingError> {
        if !kind.is_empty() && !AlarmKind::ALL.iter().any(|k| k.name() == kind) {
            let names: Vec<_> = AlarmKind::ALL.iter().map(|k| k.name()).collect();
            return Err(RoutingError::Invalid(vec![Violation::new(
                "kind",
                format!("`{kind}` is no alarm kind; one of {}", names.join(", ")),
            )]));
        }
        let limit = match page_size {
            0 => 100,
            n => n.min(1000),
        } as usize;
        let mut conn = self.db.pool().acquire().await?;
        let limit_plus_one = limit as i64 + 1;
        let filter =
            Filter { kind, case_id, include_cleared, before_id: page_token, limit: limit_plus_one, division_prefix };
        let mut page = alarms::list(&mut conn, &filter).await?;
        let next = if page.len() > limit {
            page.truncate(limit);
            page.last().map(|a| a.alarm_id.clone()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok((page, next))
    }

    /// Makes a leader the owner of a case, with its acknowledgement clock.
    pub async fn assign_owner(
        &self,
        case_id: &str,
        leader_id: &str,
        actor: Option<Actor>,
    ) -> Result<CaseOwner, RoutingError> {
        let actor = actor.unwrap_or_default();
        let mut v = Vec::new();
        required(&mut v, "case_id", case_id, "the case to own");
        required(&mut v, "leader_id", leader_id, "the leader's staff id");
        required(&mut v, "actor.org_id", &actor.org_id, "who assigns the owner");
        check(v)?;
        let mut tx = self.db.begin().await?;
        let case = store::find_case(&mut tx, case_id).await?.ok_or(RoutingError::NotFound)?;
        self.make_owner(&mut tx, case_id, &case.division_code, leader_id.trim(), &actor).await?;
        tx.commit().await?;
        self.outbox.notify();
        let mut conn = self.db.pool().acquire().await?;
        owners::find(&mut conn, case_id).await?.ok_or(RoutingError::NotFound)
    }

    async fn make_owner(
        &self,
        tx: &mut Transaction<'static, Any>,
        case_id: &str,
        division: &str,
        leader_id: &str,
        by: &Actor,
    ) -> Result<(), sqlx::Error> {
        let now = now_micros();
        if let Some(previous) = owners::find(tx, case_id).await? {
            // The previous owner's acknowledgement is no longer awaited.
            clocks::end_one(tx, &previous.clock_id, ClockState::Stopped, now).await?;
        }
        let kind = ClockKind::OwnerAcknowledgement;
        let period = self.regimes.period(kind, "", division);
        let clock_id = clocks::start(tx, case_id, kind, period, self.regimes.timing(), now).await?;
        owners::assign(tx, case_id, leader_id, by, &clock_id, now).await?;
        alarms::clear(tx, AlarmKind::RedUnowned, case_id, now).await?;
        let event =
            CaseOwnerAssigned { case_id: case_id.into(), leader_id: leader_id.into(), assigned_by: Some(by.clone()) };
        outbox::append(tx, &Envelope::new("routing", EventKind::CaseOwnerAssigned, &event)).await?;
        Ok(())
    }

    /// The owner acknowledges the case.
    pub async fn acknowledge(&self, case_id: &str, leader_id: &str) -> Result<CaseOwner, RoutingError> {
        let mut v = Vec::new();
        required(&mut v, "case_id", case_id, "the case owned");
        required(&mut v, "leader_id", leader_id, "the leader acknowledging");
        check(v)?;
        let mut tx = self.db.begin().await?;
        let owner = owners::find(&mut tx, case_id).await?.ok_or(RoutingError::NotFound)?;
        if owner.leader_id != leader_id.trim() {
            return Err(RoutingError::Precondition(
                "the case is owned by another leader; only its owner acknowledges it".into(),
            ));
        }
        let now = now_micros();
        if owners::acknowledge(&mut tx, case_id, now).await? {
            clocks::end_one(&mut tx, &owner.clock_id, ClockState::Met, now).await?;
        }
        tx.commit().await?;
        let mut conn = self.db.pool().acquire().await?;
        owners::find(&mut conn, case_id).await?.ok_or(RoutingError::NotFound)
    }

    /// Issues a supervision notice to an organisation.
    pub async fn issue_notice(
        &self,
        case_id: &str,
        org_id: &str,
        demand: &str,
        response_period: &str,
        actor: Option<Actor>,
    ) -> Result<SupervisionNotice, RoutingError> {
        let actor = actor.unwrap_or_default();
        let mut v = Vec::new();
        required(&mut v, "case_id", case_id, "the case supervised");
        required(&mut v, "org_id", org_id, "the organisation that must respond");
        required(&mut v, "demand", demand, "what is demanded");
        required(&mut v, "actor.org_id", &actor.org_id, "who issues the notice");
        if !response_period.is_empty() {
            match Period::parse(response_period) {
                Err(e) => v.push(Violation::new("response_period", e)),
                Ok(Period::Months(_)) => {
                    v.push(Violation::new("response_period", "a response is due in hours, days or working days"))
                }
                Ok(_) => {}
            }
        }
        check(v)?;
        let mut tx = self.db.begin().await?;
        let case = store::find_case(&mut tx, case_id).await?.ok_or(RoutingError::NotFound)?;
        if organisations::find(&mut tx, org_id).await?.is_none() {
            return Err(RoutingError::Invalid(vec![Violation::new("org_id", "is not in the directory")]));
        }
        let kind = ClockKind::SupervisionResponse;
        let period = match response_period {
            "" => self.regimes.period(kind, "", &case.division_code),
            given => given,
        };
        let now = now_micros();
        let clock_id = clocks::start(&mut tx, case_id, kind, period, self.regimes.timing(), now).await?;
        let notice = SupervisionNotice {
            notice_id: uuid::Uuid::now_v7().to_string(),
            case_id: case_id.into(),
            org_id: org_id.into(),
            demand: demand.trim().into(),
            issued_by: Some(actor),
            clock_id,
            ..Default::default()
        };
        notices::insert(&mut tx, &notice, now).await?;
        let issued = notices::find(&mut tx, &notice.notice_id).await?.ok_or(RoutingError::NotFound)?;
        let event = SupervisionNoticeIssued {
            case_id: case_id.into(),
            notice_id: issued.notice_id.clone(),
            org_id: org_id.into(),
            due_at: issued.due_at,
        };
        outbox::append(&mut tx, &Envelope::new("routing", EventKind::SupervisionNoticeIssued, &event)).await?;
        tx.commit().await?;
        self.outbox.notify();
        Ok(issued)
    }

    /// Records an organisation's response to its notice.
    pub async fn respond(
        &self,
        notice_id: &str,
        response: &str,
        actor: Option<Actor>,
    ) -> Result<SupervisionNotice, RoutingError> {
        let actor = actor.unwrap_or_default();
        let mut v = Vec::new();
        required(&mut v, "notice_id", notice_id, "the notice answered");
        required(&mut v, "response", response, "what the organisation answers");
        required(&mut v, "actor.org_id", &actor.org_id, "the organisation answering");
        check(v)?;
        let mut tx = self.db.begin().await?;
        let notice = notices::find(&mut tx, notice_id).await?.ok_or(RoutingError::NotFound)?;
        if notice.org_id != actor.org_id {
            return Err(RoutingError::NotFound);
        }
        let now = now_micros();
        if !notices::respond(&mut tx, notice_id, response.trim(), &actor, now).await? {
            return Err(RoutingError::Precondition("the notice was answered already".into()));
        }
        clocks::end_one(&mut tx, &notice.clock_id, ClockState::Met, now).await?;
        tx.commit().await?;
        let mut conn = self.db.pool().acquire().await?;
        notices::find(&mut conn, notice_id).await?.ok_or(RoutingError::NotFound)
    }

    /// A case's owner and notices.
    pub async fn of_case(&self, case_id: &str) -> Result<(Option<CaseOwner>, Vec<SupervisionNotice>), RoutingError> {
        let mut conn = self.db.pool().acquire().await?;
        if store::find_case(&mut conn, case_id).await?.is_none() {
            return Err(RoutingError::NotFound);
        }
        Ok((owners::find(&mut conn, case_id).await?, notices::of_case(&mut conn, case_id).await?))
    }

    /// Re-announces the case's referral still waiting for its organisation to receive it.
    pub async fn redrive(&self, case_id: &str, actor: Option<Actor>) -> Result<String, RoutingError> {
        let actor = actor.unwrap_or_default();
        let mut v = Vec::new();
        required(&mut v, "case_id", case_id, "the case to re-drive");
        required(&mut v, "actor.org_id", &actor.org_id, "who re-drives it");
        check(v)?;
        let mut tx = self.db.begin().await?;
        let case = store::find_case(&mut tx, case_id).await?.ok_or(RoutingError::NotFound)?;
        let latest = store::case_referrals(&mut tx, case_id).await?.pop();
        let Some(referral) = latest else {
            return Err(RoutingError::Precondition("the case has no referral to re-drive".into()));
        };
        if referral.state != ReferralState::Requested as i32 {
            let state = ReferralState::try_from(referral.state).unwrap_or(ReferralState::Unspecified);
            return Err(RoutingError::Precondition(format!(
                "its referral is {} at the organisation, which has it; issue a supervision notice instead",
                state.as_str_name()
            )));
        }
        crate::service::announce_request(&mut tx, &case, &referral).await?;
        tx.commit().await?;
        self.outbox.notify();
        tracing::info!(case_id, referral_id = %referral.referral_id, by = %actor.org_id, "stuck referral re-driven");
        Ok(referral.referral_id)
    }

    /// The figures of a period per unit, and the total.
    pub async fn figures(&self, period: &str, dimension: i32) -> Result<(Vec<UnitFigures>, UnitFigures), RoutingError> {
        let mut v = Vec::new();
        let parsed = ReportPeriod::parse(period);
        if let Err(e) = &parsed {
            v.push(Violation::new("period", e.clone()));
        }
        let dimension = Dimension::try_from(dimension).unwrap_or(Dimension::Unspecified);
        if dimension == Dimension::Unspecified {
            v.push(Violation::new("dimension", "is required: TOWNSHIP, DEPARTMENT or ORGANISATION"));
        }
        check(v)?;
        let mut conn = self.db.pool().acquire().await?;
        Ok(figures::compute(&mut conn, parsed.expect("checked"), dimension).await?)
    }

    /// Raises STUCK_CASE once for each referral that has not moved for
    /// `supervision.stuck_after_secs`. Returns how many this call raised.
    pub async fn sweep_stuck(&self, now: i64) -> Result<usize, sqlx::Error> {
        let cutoff = now - i64::try_from(self.settings.stuck_after_secs).unwrap_or(i64::MAX / 2) * 1_000_000;
        let states: Vec<i32> = OPEN_STATES.iter().map(|s| *s as i32).collect();
        let stuck: Vec<(String, String, i32, i64)> = sqlx::query_as(
            "SELECT r.referral_id, r.case_id, r.state, r.updated_at FROM referrals r
             WHERE r.state IN ($1, $2, $3, $4, $5) AND r.updated_at <= $6
               AND NOT EXISTS (SELECT 1 FROM alarms a WHERE a.kind = 'STUCK_CASE' AND a.subject_id = r.referral_id
                               AND a.cleared_at IS NULL)
             ORDER BY r.updated_at LIMIT 200",
        )
        .bind(states[0])
        .bind(states[1])
        .bind(states[2])
        .bind(states[3])
        .bind(states[4])
        .bind(cutoff)
        .fetch_all(self.db.pool())
        .await?;
        let mut raised = 0;
        for (referral_id, case_id, state, updated_at) in stuck {
            let state = ReferralState::try_from(state).unwrap_or(ReferralState::Unspecified);
            let idle_hours = (now - updated_at) / 3_600_000_000;
            let detail = format!("referral {} for {idle_hours} h without a change", state.as_str_name());
            let mut tx = self.db.begin().await?;
            raised +=
                usize::from(alarms::raise(&mut tx, &case_id, AlarmKind::StuckCase, &referral_id, &detail, now).await?);
            tx.commit().await?;
        }
        if raised > 0 {
            self.outbox.notify();
        }
        Ok(raised)
    }

    /// Follows a case's risk level: a RED case gets its configured leader
    /// owner, or raises RED_UNOWNED until a supervisor assigns one.
    pub async fn on_risk(
        &self,
        tx: &mut Transaction<'static, Any>,
        case_id: &str,
        division: &str,
        risk: i32,
    ) -> Result<(), sqlx::Error> {
        if risk != RiskLevel::Red as i32 || owners::find(tx, case_id).await?.is_some() {
            return Ok(());
        }
        let configured = self
            .settings
            .red_case_owners
            .iter()
            .filter(|(prefix, _)| division.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len());
        match configured {
            Some((_, leader)) => {
                let by = Actor { org_id: "fengqiao-routing".into(), person_id: String::new() };
                self.make_owner(tx, case_id, division, leader, &by).await
            }
            None => {
                let detail = "a RED case has no leader owner: assign one (SupervisionService.AssignCaseOwner)";
                alarms::raise(tx, case_id, AlarmKind::RedUnowned, case_id, detail, now_micros()).await.map(|_| ())
            }
        }
    }

    /// Clears a referral's stuck alarm when it moves, and its missing-clock
    /// alarm when it ends.
    pub async fn on_referral_moved(
        &self,
        tx: &mut Transaction<'static, Any>,
        referral_id: &str,
        to: ReferralState,
    ) -> Result<(), sqlx::Error> {
        self.on_referrals_moved(tx, &[referral_id], to).await
    }

    /// As [`on_referral_moved`](Self::on_referral_moved) for referrals that all moved to `to`.
    pub async fn on_referrals_moved(
        &self,
        tx: &mut Transaction<'static, Any>,
        referral_ids: &[&str],
        to: ReferralState,
    ) -> Result<(), sqlx::Error> {
        let now = now_micros();
        alarms::clear_all(tx, AlarmKind::StuckCase, referral_ids, now).await?;
        if !OPEN_STATES.contains(&to) {
            alarms::clear_all(tx, AlarmKind::ClockMissing, referral_ids, now).await?;
        }
        Ok(())
    }

    /// An event parked in any component's dead-letter record raises DEAD_LETTER.
    pub async fn on_dead_lettered(
        &self,
        tx: &mut Transaction<'static, Any>,
        ev: &EventDeadLettered,
    ) -> Result<(), sqlx::Error> {
        let subject = format!("{}/{}", ev.consumer, ev.event_id);
        let detail = format!(
            "{} parked by {} after {} attempts: replay it with `fengqiao dlq replay` once the cause is fixed",
            ev.event_subject, ev.consumer, ev.attempts
        );
        alarms::raise(tx, &ev.case_id, AlarmKind::DeadLetter, &subject, &detail, now_micros()).await.map(|_| ())
    }

    /// A replayed event clears its DEAD_LETTER alarm.
    pub async fn on_replayed(&self, tx: &mut Transaction<'static, Any>, ev: &EventReplayed) -> Result<(), sqlx::Error> {
        alarms::clear(tx, AlarmKind::DeadLetter, &format!("{}/{}", ev.consumer, ev.event_id), now_micros()).await
    }
}

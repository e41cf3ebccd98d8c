//! Judicial confirmation (司法确认) on the court's side: a joint application
//! reaches the court that confirms (the delegating court, or the basic court of
//! the place by `confirmation_courts`); the court accepts it with its 民特
//! number, may extend its decision once by 10 days with approval, and rules.
//! Each step is announced; routing times the court, mediation tells the parties.

use fengqiao_domain::court_case_no::{self, CaseType};
use fengqiao_platform::bus::Envelope;
use fengqiao_platform::consumer::HandlerError;
use fengqiao_platform::db::{now_micros, timestamp};
use fengqiao_platform::grpc_trace::TracedChannel;
use fengqiao_platform::outbox::{self, OutboxNotifier};
use fengqiao_platform::status::{self, Violation};
use fengqiao_platform::Database;
use fengqiao_proto::fengqiao::court::v1::{ConfirmationApplication, ConfirmationState};
use fengqiao_proto::fengqiao::events::v1::{ConfirmationAccepted, ConfirmationDecided, ConfirmationRequested};
use fengqiao_proto::fengqiao::routing::v1::routing_service_client::RoutingServiceClient;
use fengqiao_proto::fengqiao::routing::v1::{ClockState, ExtendClockRequest, ListCaseClocksRequest};
use fengqiao_proto::EventKind;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Row, Transaction};
use tonic::Status;

use crate::store;

/// How far the court's president may extend a decision (法释〔2011〕5号).
const DECISION_EXTENSION: &str = "days:10";

const COLUMNS: &str = "application_id, case_id, referral_id, org_id, court_id, state, consents, agreement_sha256, \
                       court_case_no, extended, reason, applied_at, accepted_at, decided_at";

fn from_row(r: &AnyRow) -> Result<ConfirmationApplication, sqlx::Error> {
    Ok(ConfirmationApplication {
        application_id: r.try_get("application_id")?,
        case_id: r.try_get("case_id")?,
        referral_id: r.try_get("referral_id")?,
        org_id: r.try_get("org_id")?,
        court_id: r.try_get("court_id")?,
        state: r.try_get("state")?,
        consenting_party_numbers: r
            .try_get::<String, _>("consents")?
            .split(',')
            .filter_map(|n| n.parse().ok())
            .collect(),
        agreement_sha256: r.try_get("agreement_sha256")?,
        court_case_no: r.try_get("court_case_no")?,
        extended: r.try_get::<i32, _>("extended")? == 1,
        reason: r.try_get("reason")?,
        applied_at: Some(timestamp(r.try_get("applied_at")?)),
        accepted_at: r.try_get::<Option<i64>, _>("accepted_at")?.map(timestamp),
        decided_at: r.try_get::<Option<i64>, _>("decided_at")?.map(timestamp),
    })
}

/// The court's confirmations.
#[derive(Clone)]
pub struct Confirmations {
    db: Database,
    outbox: OutboxNotifier,
    routing: RoutingServiceClient<TracedChannel>,
    /// Division-code prefix → the court that confirms agreements from there, longest first.
    courts: Vec<(String, String)>,
}

impl Confirmations {
    /// Confirmations over `db`, extending the court's clock through `routing`.
    pub fn new(
        db: Database,
        outbox: OutboxNotifier,
        routing: RoutingServiceClient<TracedChannel>,
        courts: impl IntoIterator<Item = (String, String)>,
    ) -> Self {
        let mut courts: Vec<_> = courts.into_iter().collect();
        courts.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        Self { db, outbox, routing, courts }
    }

    /// Records an application for the court that confirms it; once per referral.
    pub async fn on_requested(
        &self,
        tx: &mut Transaction<'static, Any>,
        e: &ConfirmationRequested,
    ) -> Result<(), HandlerError> {
        let court = match store::find_by_case(tx, &e.case_id).await? {
            Some(d) => d.court_id,
            None => self
                .courts
                .iter()
                .find(|(prefix, _)| e.division_code.starts_with(prefix.as_str()))
                .map(|(_, court)| court.clone())
                .ok_or_else(|| {
                    HandlerError(format!(
                        "no court confirms agreements from {}: set confirmation_courts for its division prefix, then replay",
                        e.division_code
                    ))
                })?,
        };
        sqlx::query(
            "INSERT INTO confirmations (application_id, case_id, referral_id, org_id, court_id, state, consents,
                 agreement_sha256, court_case_no, extended, reason, applied_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '', 0, '', $9) ON CONFLICT (referral_id) DO NOTHING",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(&e.case_id)
        .bind(&e.referral_id)
        .bind(&e.org_id)
        .bind(court)
        .bind(ConfirmationState::Applied as i32)
        .bind(e.consenting_party_numbers.iter().map(u32::to_string).collect::<Vec<_>>().join(","))
        .bind(&e.agreement_sha256)
        .bind(now_micros())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// A court's applications, oldest first.
    pub async fn list(&self, court_id: &str) -> Result<Vec<ConfirmationApplication>, Status> {
        let sql = format!("SELECT {COLUMNS} FROM confirmations WHERE court_id = $1 ORDER BY applied_at");
        let mut conn = self.db.pool().acquire().await.map_err(status::database)?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(court_id)
            .fetch_all(&mut *conn)
            .await
            .map_err(status::database)?;
        rows.iter().map(from_row).collect::<Result<_, _>>().map_err(status::database)
    }

    async fn find(conn: &mut AnyConnection, id: &str, court_id: &str) -> Result<ConfirmationApplication, Status> {
        let sql = format!("SELECT {COLUMNS} FROM confirmations WHERE application_id = $1");
        let row =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(conn).await.map_err(status::database)?;
        let app = row.as_ref().map(from_row).transpose().map_err(status::database)?;
        app.filter(|a| a.court_id == court_id)
            .ok_or_else(|| Status::not_found("no confirmation application of your court with this id"))
    }

    fn expect(app: &ConfirmationApplication, state: ConfirmationState, doing: &str) -> Result<(), Status> {
        if app.state == state as i32 {
            return Ok(());
        }
        let now = ConfirmationState::try_from(app.state).map_or("?", |s| s.as_str_name());
        Err(Status::failed_precondition(format!("cannot {doing}: the application is {now}")))
    }

    /// The court accepts an application with its 民特 number.
    pub async fn accept(
        &self,
        id: &str,
        court_id: &str,
        court_case_no: &str,
    ) -> Result<ConfirmationApplication, Status> {
        match court_case_no::parse(court_case_no) {
            Ok(n) if n.case_type == CaseType::SpecialProcedure => {}
            Ok(_) => {
                return Err(status::invalid_argument(&[Violation::new(
                    "court_case_no",
                    "a confirmation case is numbered 民特, e.g. (2026)甘0802民特12号",
                )]))
            }
            Err(e) => return Err(status::invalid_argument(&[Violation::new("court_case_no", e)])),
        }
        let mut tx = self.db.begin().await.map_err(status::database)?;
        let app = Self::find(&mut tx, id, court_id).await?;
        Self::expect(&app, ConfirmationState::Applied, "accept it")?;
        sqlx::query("UPDATE confirmations SET state = $1, court_case_no = $2, accepted_at = $3 WHERE application_id = $4 AND state = $5")
            .bind(ConfirmationState::Accepted as i32)
            .bind(court_case_no)
            .bind(now_micros())
            .bind(id)
            .bind(ConfirmationState::Applied as i32)
            .execute(&mut *tx)
            .await
            .map_err(status::database)?;
        let event = ConfirmationAccepted {
            case_id: app.case_id.clone(),
            application_id: id.to_string(),
            court_id: court_id.to_string(),
            referral_id: app.referral_id.clone(),
        };
        self.announce(tx, EventKind::ConfirmationAccepted, &event, id, court_id).await
    }

    /// Extends the court's decision period once, with approval.
    pub async fn extend(
        &self,
        id: &str,
        court_id: &str,
        approved_by: &str,
        reason: &str,
    ) -> Result<ConfirmationApplication, Status> {
        let mut v = Vec::new();
        if approved_by.trim().is_empty() {
            v.push(Violation::new("approved_by", "is required: who approved the extension"));
        }
        if reason.trim().is_empty() {
            v.push(Violation::new("reason", "is required"));
        }
        if !v.is_empty() {
            return Err(status::invalid_argument(&v));
        }
        let mut conn = self.db.pool().acquire().await.map_err(status::database)?;
        let app = Self::find(&mut conn, id, court_id).await?;
        Self::expect(&app, ConfirmationState::Accepted, "extend the decision period")?;
        if app.extended {
            return Err(Status::failed_precondition("the decision period was already extended; it is extended once"));
        }
        let mut routing = self.routing.clone();
        let clocks =
            routing.list_case_clocks(ListCaseClocksRequest { case_id: app.case_id.clone() }).await?.into_inner().clocks;
        let clock = clocks
            .iter()
            .find(|c| {
                c.kind == "CONFIRMATION_DECISION"
                    && c.state != ClockState::Met as i32
                    && c.state != ClockState::Stopped as i32
            })
            .ok_or_else(|| Status::unavailable("the decision clock has not started yet; retry in a few seconds"))?;
        let request = ExtendClockRequest {
            clock_id: clock.clock_id.clone(),
            period: DECISION_EXTENSION.into(),
            consented_by: vec![approved_by.trim().to_string()],
            reason: reason.trim().to_string(),
            actor: Some(fengqiao_proto::fengqiao::common::v1::Actor {
                org_id: court_id.to_string(),
                person_id: approved_by.trim().to_string(),
            }),
        };
        routing.extend_clock(request).await?;
        sqlx::query("UPDATE confirmations SET extended = 1 WHERE application_id = $1")
            .bind(id)
            .execute(self.db.writer())
            .await
            .map_err(status::database)?;
        Self::find(&mut conn, id, court_id).await
    }

    /// The court rules on an accepted application.
    pub async fn decide(
        &self,
        id: &str,
        court_id: &str,
        valid: bool,
        reason: &str,
    ) -> Result<ConfirmationApplication, Status> {
        if !valid && reason.trim().is_empty() {
            return Err(status::invalid_argument(&[Violation::new(
                "reason",
                "is required to reject; the parties are told",
            )]));
        }
        let mut tx = self.db.begin().await.map_err(status::database)?;
        let app = Self::find(&mut tx, id, court_id).await?;
        Self::expect(&app, ConfirmationState::Accepted, "rule on it")?;
        let state = if valid { ConfirmationState::Valid } else { ConfirmationState::Rejected };
        sqlx::query("UPDATE confirmations SET state = $1, reason = $2, decided_at = $3 WHERE application_id = $4 AND state = $5")
            .bind(state as i32)
            .bind(reason.trim())
            .bind(now_micros())
            .bind(id)
            .bind(ConfirmationState::Accepted as i32)
            .execute(&mut *tx)
            .await
            .map_err(status::database)?;
        let event = ConfirmationDecided {
            case_id: app.case_id.clone(),
            application_id: id.to_string(),
            referral_id: app.referral_id.clone(),
            court_id: court_id.to_string(),
            valid,
            reason: reason.trim().to_string(),
        };
        self.announce(tx, EventKind::ConfirmationDecided, &event, id, court_id).await
    }

    /// Announces a step in its transaction, commits, and answers the application.
    async fn announce<E: fengqiao_proto::Event>(
        &self,
        mut tx: Transaction<'static, Any>,
        kind: EventKind,
        event: &E,
        id: &str,
        court_id: &str,
    ) -> Result<ConfirmationApplication, Status> {
        outbox::append(&mut tx, &Envelope::new("court-linkage", kind, event)).await.map_err(status::database)?;
        let app = Self::find(&mut tx, id, court_id).await?;
        tx.commit().await.map_err(status::database)?;
        self.outbox.notify();
        Ok(app)
    }
}

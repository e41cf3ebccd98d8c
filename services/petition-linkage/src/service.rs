//! The bureau's process: record a matter, register its dispute once, keep its result.

use fengqiao_domain::period::Period;
use fengqiao_domain::referral;
use fengqiao_domain::result::Progress;
use fengqiao_platform::bus::Envelope;
use fengqiao_platform::consumer::HandlerError;
use fengqiao_platform::db::{micros_of, now_micros, timestamp};
use fengqiao_platform::grpc_trace::TracedChannel;
use fengqiao_platform::outbox::{self, OutboxNotifier};
use fengqiao_platform::status::{self, Violation};
use fengqiao_platform::Database;
use fengqiao_proto::fengqiao::common::v1::{Actor, ReferralState, Source};
use fengqiao_proto::fengqiao::events::v1::{ClockScheduled, PetitionReviewRequested};
use fengqiao_proto::fengqiao::intake::v1::intake_service_client::IntakeServiceClient;
use fengqiao_proto::fengqiao::intake::v1::RegisterCaseRequest;
use fengqiao_proto::fengqiao::petition::v1::ReviewLevel;
use fengqiao_proto::fengqiao::petition::v1::{Petition, SubmitPetitionRequest};
use fengqiao_proto::fengqiao::supervision::v1::supervision_service_client::SupervisionServiceClient;
use fengqiao_proto::fengqiao::supervision::v1::AssignCaseOwnerRequest;
use fengqiao_proto::EventKind;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Row, Transaction};
use tonic::Status;

use crate::reviews;

pub(crate) const COLUMNS: &str = "petition_id, bureau_id, matter_no, case_id, referral_state, outcome, satisfaction, \
     previous_handling, leader_id, repeat_of_case_id, created_at, acceptance_due, accepted_at, handling_due, \
     extension_reason, reply, concluded_at, evaluated_at, review_of_case_id, review_level";

pub(crate) fn from_row(r: &AnyRow) -> Result<Petition, sqlx::Error> {
    let at = |c: &str| r.try_get::<Option<i64>, _>(c).map(|t| t.map(timestamp));
    Ok(Petition {
        previous_handling: r.try_get("previous_handling")?,
        leader_id: r.try_get("leader_id")?,
        repeat_of_case_id: r.try_get("repeat_of_case_id")?,
        registered_at: at("created_at")?,
        acceptance_due: at("acceptance_due")?,
        accepted_at: at("accepted_at")?,
        handling_due: at("handling_due")?,
        extension_reason: r.try_get("extension_reason")?,
        reply: r.try_get("reply")?,
        concluded_at: at("concluded_at")?,
        evaluated_at: at("evaluated_at")?,
        review_of_case_id: r.try_get("review_of_case_id")?,
        review_level: r.try_get("review_level")?,
        petition_id: r.try_get("petition_id")?,
        bureau_id: r.try_get("bureau_id")?,
        matter_no: r.try_get("matter_no")?,
        case_id: r.try_get("case_id")?,
        referral_state: r.try_get::<i32, _>("referral_state")?,
        outcome: r.try_get::<i32, _>("outcome")?,
        satisfaction: r.try_get::<i32, _>("satisfaction")? as u32,
    })
}

async fn find_where(
    conn: &mut AnyConnection,
    filter: &str,
    a: &str,
    b: Option<&str>,
) -> Result<Option<Petition>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM petitions WHERE {filter}");
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(a.to_string());
    if let Some(b) = b {
        q = q.bind(b.to_string());
    }
    q.fetch_optional(conn).await?.as_ref().map(from_row).transpose()
}

async fn insert(conn: &mut AnyConnection, p: &Petition, at: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO petitions (petition_id, bureau_id, matter_no, case_id, referral_state, outcome, satisfaction,
             created_at, updated_at)
         VALUES ($1, $2, $3, $4, 0, 0, 0, $5, $5) ON CONFLICT (bureau_id, matter_no) DO NOTHING",
    )
    .bind(&p.petition_id)
    .bind(&p.bureau_id)
    .bind(&p.matter_no)
    .bind(&p.case_id)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

async fn set(
    conn: &mut AnyConnection,
    column: &'static str,
    case_id: &str,
    referral_id: &str,
    value: i32,
    at: i64,
) -> Result<(), sqlx::Error> {
    // Only the referral the record follows: moves of earlier ones arriving late are ignored.
    let sql = format!("UPDATE petitions SET {column} = $1, updated_at = $2 WHERE case_id = $3 AND referral_id = $4");
    sqlx::query(sqlx::AssertSqlSafe(sql)).bind(value).bind(at).bind(case_id).bind(referral_id).execute(conn).await?;
    Ok(())
}

async fn follow(conn: &mut AnyConnection, case_id: &str, referral_id: &str, at: i64) -> Result<(), sqlx::Error> {
    // Referral ids are UUIDv7, in the order routing made them: a late request of an earlier referral changes nothing.
    sqlx::query(
        "UPDATE petitions SET referral_id = $1, referral_state = $2, updated_at = $3 WHERE case_id = $4 AND referral_id < $1",
    )
    .bind(referral_id)
    .bind(ReferralState::Requested as i32)
    .bind(at)
    .bind(case_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The referral the case's petition record follows and its state; `None` without a record.
async fn followed(conn: &mut AnyConnection, case_id: &str) -> Result<Option<(String, i32)>, sqlx::Error> {
    let row = sqlx::query("SELECT referral_id, referral_state FROM petitions WHERE case_id = $1")
        .bind(case_id)
        .fetch_optional(conn)
        .await?;
    row.map(|r| Ok((r.try_get("referral_id")?, r.try_get("referral_state")?))).transpose()
}

/// Petition linkage over its database, registering through intake.
#[derive(Clone)]
pub struct PetitionService {
    pub(crate) db: Database,
    intake: IntakeServiceClient<TracedChannel>,
    supervision: SupervisionServiceClient<TracedChannel>,
    outbox: OutboxNotifier,
    review_window: Period,
}

impl PetitionService {
    /// Petition linkage over `db`; leaders are made owners through routing's `supervision`.
    pub fn new(
        db: Database,
        intake: IntakeServiceClient<TracedChannel>,
        supervision: SupervisionServiceClient<TracedChannel>,
    ) -> Self {
        Self { db, intake, supervision, outbox: OutboxNotifier::default(), review_window: Period::Days(30) }
    }

    /// The same, announcing review requests through `outbox`, accepted within `review_window` of a reply.
    pub fn with_reviews(self, outbox: OutboxNotifier, review_window: Period) -> Self {
        Self { outbox, review_window, ..self }
    }

    /// Records `petition` as a review of `r.review_of_case_id` and announces it, in one transaction.
    async fn mark_review(&self, petition: &Petition, r: &SubmitPetitionRequest) -> Result<(), Status> {
        let level = ReviewLevel::try_from(r.review_level).unwrap_or_default();
        let mut tx = self.db.begin().await.map_err(status::database)?;
        let marked = sqlx::query(
            "UPDATE petitions SET review_of_case_id = $1, review_level = $2 WHERE petition_id = $3 AND review_level = 0",
        )
        .bind(&r.review_of_case_id)
        .bind(level as i32)
        .bind(&petition.petition_id)
        .execute(&mut *tx)
        .await
        .map_err(status::database)?
        .rows_affected();
        if marked == 1 {
            let event = PetitionReviewRequested {
                case_id: petition.case_id.clone(),
                review_of_case_id: r.review_of_case_id.clone(),
                level: level.as_str_name().trim_start_matches("REVIEW_LEVEL_").to_string(),
                bureau_id: r.bureau_id.clone(),
            };
            outbox::append(&mut tx, &Envelope::new("petition-linkage", EventKind::PetitionReviewRequested, &event))
                .await
                .map_err(status::database)?;
        }
        tx.commit().await.map_err(status::database)?;
        self.outbox.notify();
        Ok(())
    }

    /// Makes the designated leader the case's owner (领导包案) and records it; a
    /// leader already recorded is not assigned again.
    async fn own(&self, petition: Petition, leader_id: &str) -> Result<Petition, Status> {
        if leader_id.trim().is_empty() || petition.leader_id == leader_id.trim() {
            return Ok(petition);
        }
        let request = AssignCaseOwnerRequest {
            case_id: petition.case_id.clone(),
            leader_id: leader_id.trim().to_string(),
            actor: Some(Actor { org_id: petition.bureau_id.clone(), ..Default::default() }),
        };
        // Routing learns of the case from its registration event: wait for it (a
        // few seconds at most); a resubmission retries what did not happen.
        let mut tries = 0;
        while let Err(e) = self.supervision.clone().assign_case_owner(request.clone()).await {
            tries += 1;
            if e.code() != tonic::Code::NotFound || tries >= 50 {
                return Err(Status::unavailable(format!(
                    "the matter is recorded but its leader could not be made owner yet ({}); submit it again to retry",
                    e.message()
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        let mut conn = self.db.writer().acquire().await.map_err(status::database)?;
        sqlx::query("UPDATE petitions SET leader_id = $1 WHERE petition_id = $2")
            .bind(leader_id.trim())
            .bind(&petition.petition_id)
            .execute(&mut *conn)
            .await
            .map_err(status::database)?;
        Ok(Petition { leader_id: leader_id.trim().to_string(), ..petition })
    }

    /// Records a bureau's matter and registers its dispute; a resubmission of
    /// the same matter number returns the first record.
    pub async fn submit(&self, r: SubmitPetitionRequest) -> Result<Petition, Status> {
        let mut v = Vec::new();
        if r.bureau_id.trim().is_empty() {
            v.push(Violation::new("bureau_id", "is required"));
        }
        if r.matter_no.trim().is_empty() {
            v.push(Violation::new("matter_no", "is required: the petition matter number (信访件编号)"));
        }
        let mut dispute = r.dispute.clone().unwrap_or_default();
        if dispute.external_ref.is_empty() {
            dispute.external_ref = r.matter_no.clone();
        } else if dispute.external_ref != r.matter_no {
            v.push(Violation::new("dispute.external_ref", "must equal matter_no (or be left empty)"));
        }
        if dispute.source == Source::Unspecified as i32 {
            dispute.source = Source::Petition as i32;
        } else if dispute.source != Source::Petition as i32 {
            v.push(Violation::new("dispute.source", "must be SOURCE_PETITION (or left unset)"));
        }
        if !v.is_empty() {
            return Err(status::invalid_argument(&v));
        }
        let review = !r.review_of_case_id.is_empty() || r.review_level != 0;
        if review {
            let earlier = self.of_case(&r.review_of_case_id, &r.bureau_id).await.ok();
            let level = ReviewLevel::try_from(r.review_level).unwrap_or_default();
            reviews::check(earlier.as_ref(), level, self.review_window, now_micros())?;
        }
        let by_number = "bureau_id = $1 AND matter_no = $2";
        let mut conn = self.db.pool().acquire().await.map_err(status::database)?;
        if let Some(p) =
            find_where(&mut conn, by_number, &r.bureau_id, Some(&r.matter_no)).await.map_err(status::database)?
        {
            return self.own(p, &r.leader_id).await;
        }
        drop(conn);
        let case = self
            .intake
            .clone()
            .register_case(RegisterCaseRequest { source_agency: r.bureau_id.clone(), dispute: Some(dispute) })
            .await?
            .into_inner()
            .case
            .ok_or_else(|| Status::internal("intake answered without a case"))?;
        let petition = Petition {
            petition_id: uuid::Uuid::now_v7().to_string(),
            bureau_id: r.bureau_id.clone(),
            matter_no: r.matter_no.clone(),
            case_id: case.case_id,
            ..Default::default()
        };
        let mut conn = self.db.writer().acquire().await.map_err(status::database)?;
        insert(&mut conn, &petition, now_micros()).await.map_err(status::database)?;
        sqlx::query("UPDATE petitions SET previous_handling = $1 WHERE bureau_id = $2 AND matter_no = $3")
            .bind(r.previous_handling.trim())
            .bind(&r.bureau_id)
            .bind(&r.matter_no)
            .execute(&mut *conn)
            .await
            .map_err(status::database)?;
        let mut petition = find_where(&mut conn, by_number, &r.bureau_id, Some(&r.matter_no))
            .await
            .map_err(status::database)?
            .ok_or_else(|| Status::internal("the petition record vanished after it was recorded"))?;
        drop(conn);
        if review {
            self.mark_review(&petition, &r).await?;
            petition.review_of_case_id = r.review_of_case_id.clone();
            petition.review_level = r.review_level;
        }
        self.own(petition, &r.leader_id).await
    }

    /// The matter of a case, for its bureau.
    pub async fn of_case(&self, case_id: &str, bureau_id: &str) -> Result<Petition, Status> {
        let mut conn = self.db.pool().acquire().await.map_err(status::database)?;
        find_where(&mut conn, "case_id = $1", case_id, None)
            .await
            .map_err(status::database)?
            .filter(|p| p.bureau_id == bureau_id)
            .ok_or_else(|| Status::not_found("no petition matter of your bureau for this case"))
    }

    /// Records the petitioner's satisfaction with a concluded matter.
    pub async fn record_satisfaction(
        &self,
        case_id: &str,
        bureau_id: &str,
        satisfaction: u32,
    ) -> Result<Petition, Status> {
        if !(1..=5).contains(&satisfaction) {
            return Err(status::invalid_argument(&[Violation::new(
                "satisfaction",
                "is 1 (very dissatisfied) to 5 (very satisfied); 5 满意, 4 基本满意, 3 or less 不满意",
            )]));
        }
        let petition = self.of_case(case_id, bureau_id).await?;
        if petition.concluded_at.is_none() {
            return Err(Status::failed_precondition(
                "the matter has not concluded yet; ask the petitioner once it has",
            ));
        }
        let mut conn = self.db.writer().acquire().await.map_err(status::database)?;
        sqlx::query("UPDATE petitions SET satisfaction = $1, evaluated_at = $2 WHERE petition_id = $3")
            .bind(satisfaction as i32)
            .bind(now_micros())
            .bind(&petition.petition_id)
            .execute(&mut *conn)
            .await
            .map_err(status::database)?;
        drop(conn);
        self.of_case(case_id, bureau_id).await
    }

    /// One petition record.
    pub async fn get(&self, petition_id: &str) -> Result<Petition, Status> {
        let mut conn = self.db.pool().acquire().await.map_err(status::database)?;
        find_where(&mut conn, "petition_id = $1", petition_id, None)
            .await
            .map_err(status::database)?
            .ok_or_else(|| Status::not_found("no petition record with this id"))
    }

    /// Keeps each petition case's progress and outcome; other cases are ignored.
    pub async fn on_event(&self, tx: &mut Transaction<'static, Any>, event: &Envelope) -> Result<(), HandlerError> {
        let Some(kind) = event.kind() else {
            return Ok(());
        };
        if kind == EventKind::ClockScheduled {
            let e: ClockScheduled = event.decode()?;
            let due = e.due_at.as_ref().map(micros_of);
            let q = match e.kind.as_str() {
                "PETITION_ACCEPTANCE" => sqlx::query("UPDATE petitions SET acceptance_due = $1 WHERE case_id = $2"),
                // An extension says why; a start or a resumption keeps the reason given before.
                "PETITION_HANDLING" | "PETITION_REVIEW_ANSWER" => sqlx::query(
                    "UPDATE petitions SET handling_due = $1,
                         extension_reason = CASE WHEN $3 = '' THEN extension_reason ELSE $3 END WHERE case_id = $2",
                ),
                _ => return Ok(()),
            };
            let q = q.bind(due).bind(&e.case_id);
            let q = if e.kind == "PETITION_ACCEPTANCE" { q } else { q.bind(&e.reason) };
            q.execute(&mut **tx).await?;
            return Ok(());
        }
        let Some(progress) = Progress::decode(kind, &event.payload) else {
            return Ok(());
        };
        let at = now_micros();
        match progress? {
            Progress::Registered(e) => {
                let d = e.dispute.unwrap_or_default();
                if d.source != Source::Petition as i32 {
                    return Ok(());
                }
                let petition = Petition {
                    petition_id: uuid::Uuid::now_v7().to_string(),
                    bureau_id: e.source_agency,
                    matter_no: d.external_ref,
                    case_id: e.case_id,
                    ..Default::default()
                };
                insert(tx, &petition, at).await?;
                // A repeat of an earlier petition of the same petitioner is flagged for the bureau.
                if let Some(earlier) = e.links.iter().find(|l| l.kind == "REPEAT_PETITION") {
                    sqlx::query("UPDATE petitions SET repeat_of_case_id = $1 WHERE case_id = $2")
                        .bind(&earlier.related_case_id)
                        .bind(&petition.case_id)
                        .execute(&mut **tx)
                        .await?;
                }
            }
            Progress::Requested(e) => follow(tx, &e.case_id, &e.referral_id, at).await?,
            Progress::Moved(e) => {
                let followed = followed(tx, &e.case_id).await?;
                if followed.is_some_and(|(referral, state)| referral::takes_move(&referral, state, &e)) {
                    set(tx, "referral_state", &e.case_id, &e.referral_id, e.to_state, at).await?;
                }
                if e.to_state == ReferralState::Accepted as i32 {
                    sqlx::query(
                        "UPDATE petitions SET accepted_at = COALESCE(accepted_at, $1) WHERE case_id = $2 AND referral_id = $3",
                    )
                    .bind(event.time_micros)
                    .bind(&e.case_id)
                    .bind(&e.referral_id)
                    .execute(&mut **tx)
                    .await?;
                }
            }
            Progress::Concluded(e) => {
                set(tx, "outcome", &e.case_id, &e.referral_id, e.outcome, at).await?;
                sqlx::query(
                    "UPDATE petitions SET concluded_at = $1, reply = $2 WHERE case_id = $3 AND referral_id = $4",
                )
                .bind(event.time_micros)
                .bind(&e.summary)
                .bind(&e.case_id)
                .bind(&e.referral_id)
                .execute(&mut **tx)
                .await?;
            }
            Progress::Returned(_) => {}
        }
        Ok(())
    }
}

//! The bureau's process: record a matter, register its dispute once, keep its result.

use fengqiao_domain::result::Progress;
use fengqiao_platform::bus::Envelope;
use fengqiao_platform::consumer::HandlerError;
use fengqiao_platform::db::now_micros;
use fengqiao_platform::status::{self, Violation};
use fengqiao_platform::Database;
use fengqiao_proto::fengqiao::common::v1::{ReferralState, Source};
use fengqiao_proto::fengqiao::intake::v1::intake_service_client::IntakeServiceClient;
use fengqiao_proto::fengqiao::intake::v1::RegisterCaseRequest;
use fengqiao_proto::fengqiao::petition::v1::{Petition, SubmitPetitionRequest};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Row, Transaction};
use tonic::transport::Channel;
use tonic::Status;

const COLUMNS: &str = "petition_id, bureau_id, matter_no, case_id, referral_state, outcome, satisfaction";

fn from_row(r: &AnyRow) -> Result<Petition, sqlx::Error> {
    Ok(Petition {
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
    sqlx::query("UPDATE petitions SET referral_id = $1, referral_state = $2, updated_at = $3 WHERE case_id = $4")
        .bind(referral_id)
        .bind(ReferralState::Requested as i32)
        .bind(at)
        .bind(case_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Petition linkage over its database, registering through intake.
#[derive(Clone)]
pub struct PetitionService {
    db: Database,
    intake: IntakeServiceClient<Channel>,
}

impl PetitionService {
    /// Petition linkage over `db`.
    pub fn new(db: Database, intake: IntakeServiceClient<Channel>) -> Self {
        Self { db, intake }
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
        let mut dispute = r.dispute.unwrap_or_default();
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
        let by_number = "bureau_id = $1 AND matter_no = $2";
        let mut conn = self.db.pool().acquire().await.map_err(status::database)?;
        if let Some(p) =
            find_where(&mut conn, by_number, &r.bureau_id, Some(&r.matter_no)).await.map_err(status::database)?
        {
            return Ok(p);
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
        let mut conn = self.db.pool().acquire().await.map_err(status::database)?;
        insert(&mut conn, &petition, now_micros()).await.map_err(status::database)?;
        find_where(&mut conn, by_number, &r.bureau_id, Some(&r.matter_no))
            .await
            .map_err(status::database)?
            .ok_or_else(|| Status::internal("the petition record vanished after it was recorded"))
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
            }
            Progress::Requested(e) => follow(tx, &e.case_id, &e.referral_id, at).await?,
            Progress::Moved(e) => set(tx, "referral_state", &e.case_id, &e.referral_id, e.to_state, at).await?,
            Progress::Concluded(e) => set(tx, "outcome", &e.case_id, &e.referral_id, e.outcome, at).await?,
            Progress::Returned(_) => {}
        }
        Ok(())
    }
}

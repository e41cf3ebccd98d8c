//! Registration: the domain behind intake's gRPC API.

use fengqiao_platform::bus::Envelope;
use fengqiao_platform::db::{local_year, now_micros};
use fengqiao_platform::outbox::{self, OutboxNotifier};
use fengqiao_platform::Database;
use fengqiao_proto::fengqiao::common::v1::{Dispute, RiskLevel};
use fengqiao_proto::fengqiao::events::v1::CaseRegistered;
use fengqiao_proto::fengqiao::intake::v1::Case;
use fengqiao_proto::EventKind;

use std::sync::Arc;

use fengqiao_proto::fengqiao::common::v1::Party;

use crate::pii::{self, Vault};
use crate::store::StoredParty;
use crate::{store, validate, IntakeError};

/// A registration's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Registered {
    /// The case.
    pub case: Case,
    /// False when the agency had registered this reference before.
    pub created: bool,
}

/// Registers and reads cases.
#[derive(Clone)]
pub struct IntakeService {
    db: Database,
    outbox: OutboxNotifier,
    vault: Arc<Vault>,
}

/// Seals a party's personal data for storage and masks it for everything else.
fn protect(vault: &Vault, party: &mut Party) -> StoredParty {
    let id = pii::normalise_resident_id(&party.resident_id);
    let phone = pii::normalise_phone(&party.phone);
    let stored = StoredParty {
        role: party.role,
        name: party.name.trim().to_string(),
        resident_id_sealed: (!id.is_empty()).then(|| vault.seal(&id)),
        phone_sealed: (!phone.is_empty()).then(|| vault.seal(&phone)),
        resident_id_hash: (!id.is_empty()).then(|| vault.hash("id", &id)),
        phone_hash: (!phone.is_empty()).then(|| vault.hash("phone", &phone)),
        name_phone_hash: (!phone.is_empty()).then(|| {
            vault.hash(
                "name+phone",
                &format!("{}|{phone}", pii::normalise_name(&party.name)),
            )
        }),
    };
    if !id.is_empty() {
        party.resident_id = pii::mask_resident_id(&id);
    }
    if !phone.is_empty() {
        party.phone = pii::mask_phone(&phone);
    }
    stored
}

impl IntakeService {
    /// Intake over `db`, sealing personal data with `vault` and waking its
    /// outbox relay after each registration.
    pub fn new(db: Database, outbox: OutboxNotifier, vault: Arc<Vault>) -> Self {
        Self { db, outbox, vault }
    }

    /// Registers `dispute` from `source_agency`, or returns the case this
    /// agency registered under the same external reference.
    pub async fn register(
        &self,
        source_agency: &str,
        dispute: Option<Dispute>,
    ) -> Result<Registered, IntakeError> {
        let violations = validate::registration(source_agency, dispute.as_ref());
        if !violations.is_empty() {
            return Err(IntakeError::Invalid(violations));
        }
        let mut dispute = dispute.expect("validated");
        dispute.external_ref = dispute.external_ref.trim().to_string();
        // From here on only masked values travel; the originals are sealed.
        let protected: Vec<StoredParty> = dispute
            .parties
            .iter_mut()
            .map(|p| protect(&self.vault, p))
            .collect();
        let source_agency = source_agency.trim();
        let mut conn = self.db.pool().acquire().await?;
        if let Some(case) =
            store::find_by_ref(&mut conn, source_agency, &dispute.external_ref).await?
        {
            return Ok(Registered {
                case,
                created: false,
            });
        }
        drop(conn);

        let division = dispute
            .location
            .as_ref()
            .map(|l| l.division_code.as_str())
            .unwrap_or("");
        let county = fengqiao_domain::case_no::county_of(division)
            .expect("validated")
            .to_string();
        let registered_at = now_micros();
        let mut tx = self.db.begin().await?;
        let seq = store::next_seq(&mut tx, &county, local_year(registered_at)).await?;
        let case = Case {
            case_id: uuid::Uuid::now_v7().to_string(),
            case_no: fengqiao_domain::case_no::format(&county, local_year(registered_at), seq),
            source_agency: source_agency.to_string(),
            // Risk rules arrive with issue #5; until then every case is routine.
            risk_level: RiskLevel::Blue as i32,
            registered_at: Some(fengqiao_platform::db::timestamp(registered_at)),
            dispute: Some(dispute),
        };
        if !store::insert(&mut tx, &case, registered_at).await? {
            // Registered concurrently by the same agency: give the number back.
            tx.rollback().await?;
            let mut conn = self.db.pool().acquire().await?;
            let case = store::find_by_ref(
                &mut conn,
                source_agency,
                &case.dispute.expect("set").external_ref,
            )
            .await?
            .ok_or_else(|| anyhow::anyhow!("a conflicting registration vanished"))?;
            return Ok(Registered {
                case,
                created: false,
            });
        }
        store::insert_parties(&mut tx, &case.case_id, &protected).await?;
        let event = CaseRegistered {
            case_id: case.case_id.clone(),
            case_no: case.case_no.clone(),
            source_agency: case.source_agency.clone(),
            dispute: case.dispute.clone(),
            risk_level: case.risk_level,
        };
        outbox::append(
            &mut tx,
            &Envelope::new("intake", EventKind::CaseRegistered, &event),
        )
        .await?;
        tx.commit().await?;
        self.outbox.notify();
        tracing::info!(case_id = %case.case_id, case_no = %case.case_no, "case registered");
        Ok(Registered {
            case,
            created: true,
        })
    }

    /// The parties of a case with their personal data in full, for callers
    /// entitled to it (not reachable over the API until entitlement and access
    /// audit arrive with issues #11 and #15).
    pub async fn reveal_parties(&self, case_id: &str) -> Result<Vec<Party>, IntakeError> {
        let mut conn = self.db.pool().acquire().await?;
        let case = store::find(&mut conn, case_id)
            .await?
            .ok_or(IntakeError::NotFound)?;
        let stored = store::parties(&mut conn, case_id).await?;
        let mut parties = case.dispute.unwrap_or_default().parties;
        for (party, s) in parties.iter_mut().zip(stored) {
            if let Some(sealed) = s.resident_id_sealed {
                party.resident_id = self.vault.open(&sealed)?;
            }
            if let Some(sealed) = s.phone_sealed {
                party.phone = self.vault.open(&sealed)?;
            }
        }
        Ok(parties)
    }

    /// The case with `case_id`.
    pub async fn get(&self, case_id: &str) -> Result<Case, IntakeError> {
        let mut conn = self.db.pool().acquire().await?;
        store::find(&mut conn, case_id)
            .await?
            .ok_or(IntakeError::NotFound)
    }
}

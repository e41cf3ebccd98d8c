//! Registration: the domain behind intake's gRPC API.

use fengqiao_platform::bus::Envelope;
use fengqiao_platform::config::IntakeRules;
use fengqiao_platform::db::{local_year, now_micros};
use fengqiao_platform::outbox::{self, OutboxNotifier};
use fengqiao_platform::status::Violation;
use fengqiao_platform::{Backend, Database};
use fengqiao_proto::fengqiao::common::v1::Actor;
use fengqiao_proto::fengqiao::common::v1::{Dispute, RiskLevel};
use fengqiao_proto::fengqiao::events::v1::{CaseRiskChanged, PersonalDataAccessed};
use fengqiao_proto::fengqiao::intake::v1::Case;
use fengqiao_proto::fengqiao::intake::v1::CaseLink;
use fengqiao_proto::EventKind;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use fengqiao_proto::fengqiao::common::v1::Party;

use crate::pii::{self, Vault};
use crate::registration::{Registration, Written};
use crate::store::StoredParty;
use crate::{links, store, validate, IntakeError};
use fengqiao_platform::group_commit::GroupCommit;

/// The most registrations one commit holds.
const REGISTRATIONS_PER_COMMIT: usize = 64;

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
    rules: Arc<IntakeRules>,
    /// The county-years whose number sequence is known to exist (PostgreSQL).
    sequences: Arc<Mutex<HashSet<(String, i32)>>>,
    /// Where registrations are written (together, on SQLite).
    registrations: GroupCommit<Registration>,
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
        name_phone_hash: (!phone.is_empty())
            .then(|| vault.hash("name+phone", &format!("{}|{phone}", pii::normalise_name(&party.name)))),
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
    pub fn new(db: Database, outbox: OutboxNotifier, vault: Arc<Vault>, rules: IntakeRules) -> Self {
        let registrations = GroupCommit::start(db.clone(), REGISTRATIONS_PER_COMMIT);
        Self { db, outbox, vault, rules: Arc::new(rules), sequences: Arc::default(), registrations }
    }

    /// Makes sure the county-year's case numbers can be taken (PostgreSQL:
    /// its sequence exists; checked once per process and county-year).
    async fn number_ready(&self, county: &str, year: i32) -> Result<(), IntakeError> {
        if self.db.backend() != Backend::Postgres
            || self.sequences.lock().expect("not poisoned").contains(&(county.to_string(), year))
        {
            return Ok(());
        }
        store::ensure_sequence(self.db.writer(), county, year).await?;
        self.sequences.lock().expect("not poisoned").insert((county.to_string(), year));
        Ok(())
    }

    /// Registers `dispute` from `source_agency`, or returns the case this
    /// agency registered under the same external reference.
    pub async fn register(&self, source_agency: &str, dispute: Option<Dispute>) -> Result<Registered, IntakeError> {
        let violations = validate::registration(source_agency, dispute.as_ref());
        if !violations.is_empty() {
            return Err(IntakeError::Invalid(violations));
        }
        let mut dispute = dispute.expect("validated");
        dispute.external_ref = dispute.external_ref.trim().to_string();
        // From here on only masked values travel; the originals are sealed.
        let protected: Vec<StoredParty> = dispute.parties.iter_mut().map(|p| protect(&self.vault, p)).collect();
        let source_agency = source_agency.trim();
        // No look for an earlier registration first: the registration's insert finds it
        // (`Written::Taken` below), which spares a new case, nearly every call, a round trip.
        let division = dispute.location.as_ref().map(|l| l.division_code.as_str()).unwrap_or("");
        let county = fengqiao_domain::case_no::county_of(division).expect("validated").to_string();
        let registered_at = now_micros();
        let year = local_year(registered_at);
        self.number_ready(&county, year).await?;
        let case_id = uuid::Uuid::now_v7().to_string();
        let hashes: Vec<String> =
            protected.iter().flat_map(|p| [p.resident_id_hash.clone(), p.name_phone_hash.clone()]).flatten().collect();
        let external_ref = dispute.external_ref.clone();
        let registration = Registration {
            case: Case {
                // Until the number is taken, in the registration's transaction.
                case_no: format!("pending-{case_id}"),
                case_id,
                source_agency: source_agency.to_string(),
                registered_at: Some(fengqiao_platform::db::timestamp(registered_at)),
                dispute: Some(dispute),
                ..Default::default()
            },
            protected,
            hashes,
            county,
            year,
            registered_at,
            rules: self.rules.clone(),
            traceparent: fengqiao_platform::telemetry::current_traceparent(),
        };
        let case = match self.registrations.write(registration).await? {
            Written::Created(case) => *case,
            Written::Taken => {
                // Registered before (a resubmission): no number was taken. Or at the same moment
                // through another intake: the number this one took goes unused.
                let mut conn = self.db.pool().acquire().await?;
                let case = store::find_by_ref(&mut conn, source_agency, &external_ref)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("a conflicting registration vanished"))?;
                return Ok(Registered { case, created: false });
            }
        };
        self.outbox.notify();
        tracing::info!(case_id = %case.case_id, case_no = %case.case_no, "case registered");
        Ok(Registered { case, created: true })
    }

    /// The parties of a case with their personal data in full, for a
    /// requester another component found entitled; the access is recorded and
    /// announced in the same transaction, or nothing is shown.
    pub async fn reveal_parties(
        &self,
        case_id: &str,
        requester: Option<Actor>,
        purpose: &str,
    ) -> Result<Vec<Party>, IntakeError> {
        let requester = requester.unwrap_or_default();
        let mut v = Vec::new();
        if requester.org_id.trim().is_empty() {
            v.push(Violation::new("requester.org_id", "is required: the organisation that will see the data"));
        }
        if purpose.trim().is_empty() {
            v.push(Violation::new("purpose", "is required: why the data is needed"));
        }
        if !v.is_empty() {
            return Err(IntakeError::Invalid(v));
        }
        let mut tx = self.db.begin().await?;
        let case = store::find(&mut tx, case_id).await?.ok_or(IntakeError::NotFound)?;
        let stored = store::parties(&mut tx, case_id).await?;
        let mut parties = case.dispute.unwrap_or_default().parties;
        for (party, s) in parties.iter_mut().zip(stored) {
            if let Some(sealed) = s.resident_id_sealed {
                party.resident_id = self.vault.open(&sealed)?;
            }
            if let Some(sealed) = s.phone_sealed {
                party.phone = self.vault.open(&sealed)?;
            }
        }
        store::record_access(&mut tx, case_id, &requester, purpose.trim(), now_micros()).await?;
        let event = PersonalDataAccessed {
            case_id: case_id.to_string(),
            requester: Some(requester),
            purpose: purpose.trim().into(),
        };
        outbox::append(&mut tx, &Envelope::new("intake", EventKind::PersonalDataAccessed, &event)).await?;
        tx.commit().await?;
        self.outbox.notify();
        Ok(parties)
    }

    /// A case's whole family of linked cases, oldest first, with the links.
    pub async fn lineage(&self, case_id: &str) -> Result<(Vec<Case>, Vec<CaseLink>), IntakeError> {
        let mut conn = self.db.pool().acquire().await?;
        store::find(&mut conn, case_id).await?.ok_or(IntakeError::NotFound)?;
        let ids = links::family(&mut conn, case_id).await?;
        let mut cases = Vec::with_capacity(ids.len());
        for id in &ids {
            if let Some(case) = store::find(&mut conn, id).await? {
                cases.push(case);
            }
        }
        cases.sort_by_key(|c| c.registered_at.as_ref().map(|t| (t.seconds, t.nanos)));
        let all = links::among(&mut conn, &ids).await?;
        Ok((cases, all))
    }

    /// Changes a case's risk level for a stated reason, and announces it.
    pub async fn set_risk_level(
        &self,
        case_id: &str,
        level: RiskLevel,
        reason: &str,
        actor: Option<Actor>,
    ) -> Result<Case, IntakeError> {
        let mut v = Vec::new();
        if level == RiskLevel::Unspecified {
            v.push(Violation::new("risk_level", "is required: BLUE, YELLOW, ORANGE or RED"));
        }
        if reason.trim().is_empty() {
            v.push(Violation::new("reason", "is required: why the level changes"));
        }
        let actor = actor.unwrap_or_default();
        if actor.org_id.trim().is_empty() {
            v.push(Violation::new("actor.org_id", "is required: who changes it"));
        }
        if !v.is_empty() {
            return Err(IntakeError::Invalid(v));
        }
        let mut tx = self.db.begin().await?;
        let mut case = store::find(&mut tx, case_id).await?.ok_or(IntakeError::NotFound)?;
        let from = RiskLevel::try_from(case.risk_level).unwrap_or(RiskLevel::Unspecified);
        case.risk_level = level as i32;
        case.risk_explanation = format!(
            "{}: set by {} (was {}): {}",
            level.as_str_name().trim_start_matches("RISK_LEVEL_"),
            actor.org_id,
            from.as_str_name().trim_start_matches("RISK_LEVEL_"),
            reason.trim()
        );
        store::set_risk(&mut tx, case_id, case.risk_level, &case.risk_explanation).await?;
        let event = CaseRiskChanged {
            case_id: case_id.to_string(),
            from_level: from as i32,
            to_level: level as i32,
            reason: reason.trim().to_string(),
            actor: Some(actor),
        };
        outbox::append(&mut tx, &Envelope::new("intake", EventKind::CaseRiskChanged, &event)).await?;
        tx.commit().await?;
        self.outbox.notify();
        Ok(case)
    }

    /// The case with `case_id`.
    pub async fn get(&self, case_id: &str) -> Result<Case, IntakeError> {
        let mut conn = self.db.pool().acquire().await?;
        let mut case = store::find(&mut conn, case_id).await?.ok_or(IntakeError::NotFound)?;
        case.links = links::among(&mut conn, &[case_id.to_string()])
            .await?
            .into_iter()
            .filter(|l| l.case_id == case_id)
            .collect();
        Ok(case)
    }
}

//! Registration: the domain behind intake's gRPC API.

use fengqiao_platform::bus::Envelope;
use fengqiao_platform::config::IntakeRules;
use fengqiao_platform::db::{local_year, now_micros};
use fengqiao_platform::outbox::{self, OutboxNotifier};
use fengqiao_platform::status::Violation;
use fengqiao_platform::{Backend, Database};
use fengqiao_proto::fengqiao::common::v1::{Actor, Source};
use fengqiao_proto::fengqiao::common::v1::{Dispute, RiskLevel};
use fengqiao_proto::fengqiao::events::v1::{CaseRegistered, CaseRiskChanged, LinkedCase, PersonalDataAccessed};
use fengqiao_proto::fengqiao::intake::v1::Case;
use fengqiao_proto::fengqiao::intake::v1::{CaseLink, LinkKind};
use fengqiao_proto::EventKind;
use sqlx::AnyConnection;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use fengqiao_proto::fengqiao::common::v1::Party;

use crate::pii::{self, Vault};
use crate::store::StoredParty;
use crate::{links, risk, store, validate, IntakeError};

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
        Self { db, outbox, vault, rules: Arc::new(rules), sequences: Arc::default() }
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

    /// Links a new case to the earlier cases of the same party (by resident id
    /// or name and phone) in the same place or of the same kind, within the
    /// window: a police case again from the police is a re-flow, a petition
    /// again a repeat petition, anything else related.
    async fn link_earlier(
        &self,
        conn: &mut AnyConnection,
        case_id: &str,
        dispute: &Dispute,
        hashes: &[String],
        now: i64,
    ) -> Result<Vec<CaseLink>, IntakeError> {
        let since = now - i64::from(self.rules.related_window_days) * 86_400_000_000;
        let division = dispute.location.as_ref().map(|l| l.division_code.as_str()).unwrap_or("");
        let earlier = links::find_related(conn, hashes, since, division, dispute.category).await?;
        Ok(earlier
            .into_iter()
            .map(|e| {
                let (kind, what) = match (Source::try_from(dispute.source), Source::try_from(e.source)) {
                    (Ok(Source::Police), Ok(Source::Police)) => (LinkKind::Reflow, "back at the police after"),
                    (Ok(Source::Petition), Ok(Source::Petition)) => (LinkKind::RepeatPetition, "a repeat petition of"),
                    _ => (LinkKind::Related, "related to"),
                };
                let shared = if e.same_place { "the same place" } else { "the same kind of dispute" };
                CaseLink {
                    case_id: case_id.to_string(),
                    related_case_id: e.case_id,
                    kind: kind as i32,
                    reason: format!("{what} case {}: the same party and {shared}", e.case_no),
                }
            })
            .collect())
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
        let mut conn = self.db.pool().acquire().await?;
        if let Some(case) = store::find_by_ref(&mut conn, source_agency, &dispute.external_ref).await? {
            return Ok(Registered { case, created: false });
        }
        drop(conn);

        let division = dispute.location.as_ref().map(|l| l.division_code.as_str()).unwrap_or("");
        let county = fengqiao_domain::case_no::county_of(division).expect("validated").to_string();
        let registered_at = now_micros();
        let year = local_year(registered_at);
        self.number_ready(&county, year).await?;
        let case_id = uuid::Uuid::now_v7().to_string();
        let hashes: Vec<String> =
            protected.iter().flat_map(|p| [p.resident_id_hash.clone(), p.name_phone_hash.clone()]).flatten().collect();
        let mut tx = self.db.begin().await?;
        let found_links = self.link_earlier(&mut tx, &case_id, &dispute, &hashes, registered_at).await?;
        let kinds: Vec<LinkKind> =
            found_links.iter().map(|l| LinkKind::try_from(l.kind).unwrap_or(LinkKind::Unspecified)).collect();
        let risk = risk::assess(&dispute, &kinds, &self.rules);
        let mut case = Case {
            // Unique until the number is taken, last, below.
            case_no: format!("pending-{case_id}"),
            case_id,
            source_agency: source_agency.to_string(),
            risk_level: risk.level as i32,
            risk_explanation: risk.explanation,
            registered_at: Some(fengqiao_platform::db::timestamp(registered_at)),
            dispute: Some(dispute),
            links: found_links,
        };
        if !store::insert(&mut tx, &case, registered_at).await? {
            // Registered concurrently by the same agency: give the number back.
            tx.rollback().await?;
            let mut conn = self.db.pool().acquire().await?;
            let case = store::find_by_ref(&mut conn, source_agency, &case.dispute.expect("set").external_ref)
                .await?
                .ok_or_else(|| anyhow::anyhow!("a conflicting registration vanished"))?;
            return Ok(Registered { case, created: false });
        }
        store::insert_parties(&mut tx, &case.case_id, &protected).await?;
        for link in &case.links {
            links::insert(&mut tx, link, registered_at).await?;
        }
        // Taken last: on SQLite the counter row is held from here to the commit.
        let seq = store::next_seq(&mut tx, self.db.backend(), &county, year).await?;
        case.case_no = fengqiao_domain::case_no::format(&county, year, seq);
        store::set_case_no(&mut tx, &case.case_id, &case.case_no).await?;
        let event = CaseRegistered {
            case_id: case.case_id.clone(),
            case_no: case.case_no.clone(),
            source_agency: case.source_agency.clone(),
            dispute: case.dispute.clone(),
            risk_level: case.risk_level,
            risk_explanation: case.risk_explanation.clone(),
            links: case
                .links
                .iter()
                .map(|l| LinkedCase {
                    related_case_id: l.related_case_id.clone(),
                    kind: LinkKind::try_from(l.kind)
                        .map(|k| k.as_str_name().trim_start_matches("LINK_KIND_").to_string())
                        .unwrap_or_default(),
                })
                .collect(),
        };
        outbox::append(&mut tx, &Envelope::new("intake", EventKind::CaseRegistered, &event)).await?;
        tx.commit().await?;
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

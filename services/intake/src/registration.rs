//! One registration's writes — the case, its parties and links, its number and
//! its event — as a group-commit write: on SQLite concurrent registrations
//! share a transaction (one sync of the file); on PostgreSQL each commits in a
//! transaction of its own.

use std::sync::Arc;

use fengqiao_platform::bus::Envelope;
use fengqiao_platform::config::IntakeRules;
use fengqiao_platform::group_commit::{BoxFuture, Write};
use fengqiao_platform::outbox;
use fengqiao_platform::Backend;
use fengqiao_proto::fengqiao::common::v1::{Dispute, Source};
use fengqiao_proto::fengqiao::events::v1::{CaseRegistered, LinkedCase};
use fengqiao_proto::fengqiao::intake::v1::{Case, CaseLink, LinkKind};
use fengqiao_proto::EventKind;
use sqlx::AnyConnection;

use crate::store::StoredParty;
use crate::{links, risk, store};

/// A new case to write: everything decided before the transaction.
pub(crate) struct Registration {
    /// The case, its number and links not yet known (`case_no` a unique placeholder).
    pub case: Case,
    /// The parties as stored (sealed and hashed).
    pub protected: Vec<StoredParty>,
    /// The parties' hashes, to find their earlier cases.
    pub hashes: Vec<String>,
    /// The county whose number it takes (six digits).
    pub county: String,
    /// The year (Asia/Shanghai) whose number it takes.
    pub year: i32,
    /// When it was registered (µs since the epoch).
    pub registered_at: i64,
    /// Where numbers come from: the counter row (SQLite) or a sequence (PostgreSQL).
    pub backend: Backend,
    /// The window for linking earlier cases and the risk rules.
    pub rules: Arc<IntakeRules>,
}

/// What writing it came to.
pub(crate) enum Written {
    /// The case, numbered and linked.
    Created(Box<Case>),
    /// The agency's reference was registered meanwhile (by another call): nothing was written.
    Taken,
}

impl Write for Registration {
    type Output = Written;
    const NAME: &'static str = "case_registration";
    const ATOMIC: bool = true;

    fn apply<'c>(&'c self, conn: &'c mut AnyConnection) -> BoxFuture<'c, Result<Written, sqlx::Error>> {
        Box::pin(self.write(conn))
    }
}

impl Registration {
    async fn write(&self, conn: &mut AnyConnection) -> Result<Written, sqlx::Error> {
        let mut case = self.case.clone();
        let dispute = case.dispute.clone().unwrap_or_default();
        case.links = self.link_earlier(conn, &case.case_id, &dispute).await?;
        let kinds: Vec<LinkKind> =
            case.links.iter().map(|l| LinkKind::try_from(l.kind).unwrap_or(LinkKind::Unspecified)).collect();
        let risk = risk::assess(&dispute, &kinds, &self.rules);
        case.risk_level = risk.level as i32;
        case.risk_explanation = risk.explanation;
        if !store::insert(conn, &case, self.registered_at).await? {
            return Ok(Written::Taken);
        }
        store::insert_parties(conn, &case.case_id, &self.protected).await?;
        for link in &case.links {
            links::insert(conn, link, self.registered_at).await?;
        }
        // Taken last: on SQLite the counter row is held from here to the commit.
        let seq = store::next_seq(conn, self.backend, &self.county, self.year).await?;
        case.case_no = fengqiao_domain::case_no::format(&self.county, self.year, seq);
        store::set_case_no(conn, &case.case_id, &case.case_no).await?;
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
        outbox::append(conn, &Envelope::new("intake", EventKind::CaseRegistered, &event)).await?;
        Ok(Written::Created(Box::new(case)))
    }

    /// Links the new case to the earlier cases of the same party (by resident id
    /// or name and phone) in the same place or of the same kind, within the
    /// window: a police case again from the police is a re-flow, a petition
    /// again a repeat petition, anything else related.
    async fn link_earlier(
        &self,
        conn: &mut AnyConnection,
        case_id: &str,
        dispute: &Dispute,
    ) -> Result<Vec<CaseLink>, sqlx::Error> {
        let since = self.registered_at - i64::from(self.rules.related_window_days) * 86_400_000_000;
        let division = dispute.location.as_ref().map(|l| l.division_code.as_str()).unwrap_or("");
        let earlier = links::find_related(conn, &self.hashes, since, division, dispute.category).await?;
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
}

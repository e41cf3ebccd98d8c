//! One registration's writes — the case, its parties and links, its number and
//! its event — as a group-commit write: concurrent registrations share a
//! transaction (one commit, one sync of the WAL) and its statements (each a
//! multi-row statement for the batch), on SQLite and PostgreSQL alike.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use fengqiao_platform::bus::Envelope;
use fengqiao_platform::config::IntakeRules;
use fengqiao_platform::group_commit::{BoxFuture, Write};
use fengqiao_platform::outbox;
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
    /// The window for linking earlier cases and the risk rules.
    pub rules: Arc<IntakeRules>,
    /// The registering call's trace (W3C `traceparent`), which its event
    /// carries on: the write runs in the group commit's task, outside the call.
    pub traceparent: Option<String>,
}

/// What writing it came to.
pub(crate) enum Written {
    /// The case, numbered and linked.
    Created(Box<Case>),
    /// The agency's reference was registered before, or meanwhile by another call: nothing was written.
    Taken,
}

impl Write for Registration {
    type Output = Written;
    const NAME: &'static str = "case_registration";
    const ATOMIC: bool = true;
    /// A registration creates rows of its own (a new case, its parties, its
    /// event; its number from a sequence that takes no lock): registrations
    /// share commits and statements on PostgreSQL too.
    const BATCHES_ON_POSTGRES: bool = true;

    fn apply<'c>(&'c self, conn: &'c mut AnyConnection) -> BoxFuture<'c, Result<Written, sqlx::Error>> {
        Box::pin(async move { Ok(write_all(&[self], conn).await?.remove(0)) })
    }

    fn apply_all<'c>(
        writes: &'c [&'c Self],
        conn: &'c mut AnyConnection,
    ) -> BoxFuture<'c, Result<Vec<Written>, sqlx::Error>> {
        Box::pin(write_all(writes, conn))
    }
}

/// Writes `registrations` in order, as if one after another, in a handful of
/// statements for all of them (each statement is a round trip to the file's
/// one writing connection on SQLite): by runs in which no registration shares
/// a party with an earlier one, so each finds the cases before it to link.
pub(crate) async fn write_all(
    registrations: &[&Registration],
    conn: &mut AnyConnection,
) -> Result<Vec<Written>, sqlx::Error> {
    let mut written = Vec::with_capacity(registrations.len());
    let mut rest = registrations;
    while !rest.is_empty() {
        let (run, after) = rest.split_at(unrelated_run(rest));
        written.extend(write_run(run, conn).await?);
        rest = after;
    }
    Ok(written)
}

/// How many of `registrations`, from the first, share no party with an
/// earlier one among them (at least one).
fn unrelated_run(registrations: &[&Registration]) -> usize {
    let mut seen = HashSet::new();
    for (i, r) in registrations.iter().enumerate() {
        if i > 0 && r.hashes.iter().any(|h| seen.contains(h.as_str())) {
            return i;
        }
        seen.extend(r.hashes.iter().map(String::as_str));
    }
    registrations.len()
}

/// Writes a run of registrations none of which links to another. Only the
/// references not registered yet are numbered, then written with their
/// numbers: each case row is written once (a number set by a later update
/// rewrote the row and its four index entries; docs/performance.md,
/// thirty-second round). A reference another intake registers at the same
/// moment still loses at the insert, its number unused.
async fn write_run(run: &[&Registration], conn: &mut AnyConnection) -> Result<Vec<Written>, sqlx::Error> {
    let refs: Vec<(&str, &str)> = run.iter().map(|r| (r.case.source_agency.as_str(), r.external_ref())).collect();
    let registered = store::registered_refs(conn, &refs).await?;
    let mut seen = HashSet::with_capacity(run.len());
    // Each new reference once, the first registration with it in the run.
    let new: Vec<usize> = (0..run.len())
        .filter(|&i| {
            let (agency, reference) = refs[i];
            !registered.contains(&(agency.to_string(), reference.to_string())) && seen.insert(refs[i])
        })
        .collect();
    let mut written: Vec<Written> = run.iter().map(|_| Written::Taken).collect();
    if new.is_empty() {
        return Ok(written);
    }
    // The run's parties' earlier cases, in one statement: none of the run links to another.
    let wanted: Vec<links::Wanted> = new.iter().map(|&i| run[i].wanted()).collect();
    let earlier = links::find_related_all(conn, &wanted).await?;
    let mut cases: Vec<Case> = new.iter().zip(earlier).map(|(&i, e)| run[i].assessed(e)).collect();
    // Numbered in the run's order: on SQLite the counter row is held from here to the commit.
    let mut by_year: BTreeMap<(&str, i32), Vec<usize>> = BTreeMap::new();
    for (k, &i) in new.iter().enumerate() {
        by_year.entry((run[i].county.as_str(), run[i].year)).or_default().push(k);
    }
    for ((county, year), members) in by_year {
        let seqs = store::next_seqs(conn, county, year, members.len()).await?;
        for (k, seq) in members.into_iter().zip(seqs) {
            cases[k].case_no = fengqiao_domain::case_no::format(county, year, seq);
        }
    }
    let rows: Vec<(&Case, i64)> = cases.iter().zip(&new).map(|(c, &i)| (c, run[i].registered_at)).collect();
    let inserted = store::insert_all(conn, &rows).await?;
    let fresh: Vec<usize> = (0..new.len()).filter(|&k| inserted.contains(&cases[k].case_id)).collect();
    let parties: Vec<(&str, &[StoredParty])> =
        fresh.iter().map(|&k| (cases[k].case_id.as_str(), run[new[k]].protected.as_slice())).collect();
    store::insert_parties(conn, &parties).await?;
    let new_links: Vec<(&CaseLink, i64)> = fresh
        .iter()
        .flat_map(|&k| {
            let at = run[new[k]].registered_at;
            cases[k].links.iter().map(move |link| (link, at))
        })
        .collect();
    links::insert_all(conn, &new_links).await?;
    let events: Vec<Envelope> = fresh.iter().map(|&k| announcement(&cases[k], &run[new[k]].traceparent)).collect();
    outbox::append_all(conn, &events).await?;
    let fresh: HashSet<usize> = fresh.into_iter().collect();
    for (k, case) in cases.into_iter().enumerate() {
        if fresh.contains(&k) {
            written[new[k]] = Written::Created(Box::new(case));
        }
    }
    Ok(written)
}

/// The event announcing a registered case, in the trace of the call that registered it.
fn announcement(case: &Case, traceparent: &Option<String>) -> Envelope {
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
    let mut envelope = Envelope::new("intake", EventKind::CaseRegistered, &event);
    envelope.traceparent.clone_from(traceparent);
    envelope
}

impl Registration {
    /// The agency's reference for the case.
    fn external_ref(&self) -> &str {
        self.case.dispute.as_ref().map_or("", |d| d.external_ref.as_str())
    }

    /// What it looks for among the earlier cases: its parties' cases within the
    /// window, in the same place or of the same kind of dispute.
    fn wanted(&self) -> links::Wanted<'_> {
        let dispute = self.case.dispute.as_ref();
        links::Wanted {
            hashes: &self.hashes,
            since: self.registered_at - i64::from(self.rules.related_window_days) * 86_400_000_000,
            division_code: dispute.and_then(|d| d.location.as_ref()).map_or("", |l| l.division_code.as_str()),
            category: dispute.map_or(0, |d| d.category),
        }
    }

    /// The case with its links to the `earlier` cases it found and its risk assessed.
    fn assessed(&self, earlier: Vec<links::Earlier>) -> Case {
        let mut case = self.case.clone();
        let dispute = case.dispute.clone().unwrap_or_default();
        case.links = link_earlier(&case.case_id, &dispute, earlier);
        let kinds: Vec<LinkKind> =
            case.links.iter().map(|l| LinkKind::try_from(l.kind).unwrap_or(LinkKind::Unspecified)).collect();
        let risk = risk::assess(&dispute, &kinds, &self.rules);
        case.risk_level = risk.level as i32;
        case.risk_explanation = risk.explanation;
        case
    }
}

/// Links a new case to the earlier cases of the same party (by resident id or
/// name and phone) in the same place or of the same kind, within the window: a
/// police case again from the police is a re-flow, a petition again a repeat
/// petition, anything else related.
fn link_earlier(case_id: &str, dispute: &Dispute, earlier: Vec<links::Earlier>) -> Vec<CaseLink> {
    earlier
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
        .collect()
}

#[cfg(test)]
mod tests;

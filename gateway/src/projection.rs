//! The status view agencies read: every case's progress, built from events,
//! with a log per agency that WatchStatus streams.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fengqiao_domain::referral::is_newer;
use fengqiao_domain::result::Progress;
use fengqiao_platform::bus::Envelope;
use fengqiao_platform::consumer::{Arrival, EventHandler, HandlerError};
use fengqiao_platform::db::{now_micros, Backend};
use fengqiao_proto::fengqiao::common::v1::ReferralState;
use fengqiao_proto::fengqiao::events::v1::CaseRegistered;
use fengqiao_proto::fengqiao::gateway::v1::CaseStatus;
use sqlx::{Any, Transaction};
use tokio::sync::Notify;

use crate::store;

/// Applies case progress to the status view.
pub struct StatusProjection {
    numbering: store::Numbering,
    /// Woken after each commit: the sequencer ([`number_changes`]) where it
    /// numbers the changes, else the log's readers (streams, callbacks).
    committed: Arc<Notify>,
}

impl StatusProjection {
    /// The projection on `backend`: on SQLite (one writer at a time) it numbers
    /// its changes as it commits them and wakes `changed`'s waiters; on
    /// PostgreSQL it leaves them for the sequencer and wakes `written`.
    pub fn new(backend: Backend, written: Arc<Notify>, changed: Arc<Notify>) -> Self {
        match backend {
            Backend::Sqlite => Self { numbering: store::Numbering::AtCommit, committed: changed },
            Backend::Postgres => Self { numbering: store::Numbering::AfterCommit, committed: written },
        }
    }

    /// Who numbers its changes.
    pub fn numbering(&self) -> store::Numbering {
        self.numbering
    }
}

/// Numbers the changes left waiting in `status_pending` (by a gateway of an
/// earlier version, or one on PostgreSQL): before a projection that numbers
/// its own starts, so no case's earlier change gets a later number.
pub async fn number_left_waiting(db: &fengqiao_platform::Database) -> Result<u64, sqlx::Error> {
    let mut numbered = 0;
    loop {
        match store::number_new(db).await?.count {
            0 => return Ok(numbered),
            n => numbered += n,
        }
    }
}

/// The least time from the start of one numbering round to the next, unless
/// the first was full. Under load the changes committed meanwhile share a round
/// (six statements, a ring of their agencies' streams, a look for due
/// callbacks) instead of taking one each; an agency sees a change at most this
/// much later. At 50 referrals/s it took PostgreSQL from 100 to 82 statements a
/// referral (docs/performance.md, twentieth round).
pub(crate) const ROUND_GAP: Duration = Duration::from_millis(20);

/// Numbers committed status changes as they come (see [`store::number_new`]),
/// then wakes the streams of the agencies it numbered for (`watchers`, with no
/// read of the log to find them) and `changed`'s waiters (callbacks), until
/// `shutdown`; rounds start at least `gap` apart (in service, [`ROUND_GAP`]).
pub async fn number_changes(
    db: fengqiao_platform::Database,
    written: Arc<Notify>,
    changed: Arc<Notify>,
    watchers: Arc<crate::watchers::Watchers>,
    gap: Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut outage = fengqiao_platform::outage::Outage::new(db.component(), "numbering new status changes");
    loop {
        let started = tokio::time::Instant::now();
        let numbered = store::number_new(&db).await;
        outage.record(&numbered);
        match numbered {
            Ok(numbered) if numbered.count == 0 => {}
            Ok(numbered) => {
                watchers.ring(numbered.agencies.iter().map(String::as_str));
                changed.notify_waiters();
                if numbered.count >= store::NUMBER_BATCH as u64 {
                    continue; // a full round: there is more
                }
                // Otherwise a change committed during the round has left its
                // notice, so the wait below ends at once. Another round straight
                // away nearly always found nothing: half the rounds, each five
                // statements, were empty.
            }
            Err(_) => {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = written.notified() => {}
            // Another gateway replica's changes, or a wake-up missed.
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        // A commit's notice that comes meanwhile is kept (a stored permit) for the next wait.
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(started + gap) => {}
        }
    }
}

#[async_trait]
impl EventHandler for StatusProjection {
    async fn handle(&self, tx: &mut Transaction<'static, Any>, event: &Envelope) -> Result<(), HandlerError> {
        self.handle_all(tx, &[Arrival { event, span: tracing::Span::none() }]).await
    }

    /// A lane's waiting events in a few statements whatever their number: their
    /// cases read at once, each event applied in order to the status in hand,
    /// every change written at once.
    async fn handle_all(&self, tx: &mut Transaction<'static, Any>, events: &[Arrival<'_>]) -> Result<(), HandlerError> {
        let mut progress = Vec::with_capacity(events.len());
        for arrival in events {
            let Some(kind) = arrival.event.kind() else { continue };
            if let Some(decoded) = Progress::decode(kind, &arrival.event.payload) {
                progress.push(decoded?);
            }
        }
        if progress.is_empty() {
            return Ok(());
        }
        let at = now_micros();
        let cases: BTreeSet<&str> = progress.iter().map(Progress::case_id).collect();
        let mut stored = store::statuses_for_change(tx, &cases).await?;
        let registered = progress.iter().filter_map(|p| match p {
            Progress::Registered(e) => Some(e),
            _ => None,
        });
        register(tx, &mut stored, registered, at).await?;
        let unknown: Vec<&str> = cases.iter().copied().filter(|c| !stored.contains_key(*c)).collect();
        if !unknown.is_empty() {
            // Progress ahead of its registration: a case its submit call owns is recorded from that.
            for owned in store::record_owned(tx, &unknown, at).await? {
                stored.insert(owned.status.case_id.clone(), owned);
            }
        }
        let mut changes = Vec::with_capacity(progress.len());
        for p in &progress {
            let case = stored
                .get_mut(p.case_id())
                .ok_or_else(|| HandlerError(format!("case {} has no status yet", p.case_id())))?;
            changes.extend(advance(case, p, at));
        }
        store::save(tx, &changes, at, self.numbering).await?;
        Ok(())
    }

    fn committed(&self) {
        match self.numbering {
            // The log's readers read what was just numbered.
            store::Numbering::AtCommit => self.committed.notify_waiters(),
            // The sequencer numbers what was just committed (a stored permit if it is busy).
            store::Numbering::AfterCommit => self.committed.notify_one(),
        }
    }
}

/// Records the cases `registered` that the view does not have yet, or has
/// without a number (an earlier version's submit call recorded it before its
/// registration numbered it), all in one statement. A lane's events come in
/// each case's order, so a case's registration is applied before its changes.
async fn register<'e>(
    tx: &mut Transaction<'static, Any>,
    stored: &mut HashMap<String, store::Stored>,
    registered: impl Iterator<Item = &'e CaseRegistered>,
    at: i64,
) -> Result<(), sqlx::Error> {
    let mut new = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for e in registered {
        if stored.get(&e.case_id).is_some_and(|s| !s.status.case_no.is_empty()) || !seen.insert(e.case_id.as_str()) {
            continue;
        }
        let external_ref = e.dispute.as_ref().map(|d| d.external_ref.clone()).unwrap_or_default();
        let status =
            CaseStatus { case_id: e.case_id.clone(), case_no: e.case_no.clone(), external_ref, ..Default::default() };
        new.push((e.source_agency.as_str(), status, at));
    }
    if new.is_empty() {
        return Ok(());
    }
    // In id order, as statuses_for_change locks: two replicas' lanes holding one case (a
    // redelivery) then wait on each other in one order, never in a circle.
    new.sort_by(|a, b| a.1.case_id.cmp(&b.1.case_id));
    let rows: Vec<(&str, &CaseStatus, i64)> = new.iter().map(|(agency, status, at)| (*agency, status, *at)).collect();
    for recorded in store::record_all(tx, &rows).await? {
        match stored.entry(recorded.status.case_id.clone()) {
            // Only the number is new.
            Entry::Occupied(mut case) => case.get_mut().status.case_no = recorded.status.case_no,
            Entry::Vacant(slot) => {
                slot.insert(recorded);
            }
        }
    }
    Ok(())
}

/// Applies `progress` to the case's status in hand; the change to write, if it
/// is news (a retried or late delivery may not be).
fn advance(case: &mut store::Stored, progress: &Progress, at: i64) -> Option<store::Change> {
    // Referral ids are UUIDv7, in the order routing made them: a larger one is newer.
    let current = case.referral_id.as_str();
    let status = &mut case.status;
    let previous_org = status.org_id.clone();
    // A newer referral the status follows from now on, written with it.
    let mut follow = None;
    match progress {
        // A registration retried after a crash, when later changes went through: nothing new.
        Progress::Registered(_) if status.referral_state != 0 || status.outcome != 0 => return None,
        Progress::Registered(_) => {}
        Progress::Requested(e) => {
            // A retried delivery of this referral's request (its moves may have come
            // first), or of an earlier referral's: stale.
            if e.referral_id.as_str() <= current {
                return None;
            }
            follow = Some(e.referral_id.clone());
            status.referral_state = ReferralState::Requested as i32;
            status.org_id.clone_from(&e.org_id);
            status.reason.clear();
        }
        Progress::Moved(e) => {
            if e.referral_id.as_str() < current {
                // A move of an earlier referral (e.g. cancelled by a re-route) arriving late.
                return None;
            }
            let same = e.referral_id == current;
            if same && !is_newer(status.referral_state(), e.from_state(), e.to_state()) {
                // Retried after a crash while later moves went through: already superseded.
                return None;
            }
            if !same {
                // Its request is still on its way (a retried delivery): follow the referral now.
                follow = Some(e.referral_id.clone());
            }
            status.referral_state = e.to_state;
            status.org_id.clone_from(&e.org_id);
            status.reason.clone_from(&e.reason);
        }
        Progress::Concluded(e) => {
            if e.referral_id.as_str() < current {
                return None;
            }
            if e.referral_id.as_str() > current {
                // Its request and moves are still on their way: follow the referral now.
                follow = Some(e.referral_id.clone());
            }
            status.outcome = e.outcome;
        }
        Progress::Returned(e) => {
            status.returned_to_sender = true;
            status.reason.clone_from(&e.reason);
        }
    }
    status.updated_at = Some(fengqiao_platform::db::timestamp(at));
    if let Some(referral) = follow {
        case.referral_id = referral;
    }
    // The organisation handling the case follows it too, and one it left learns where it went.
    Some(store::Change {
        agency_id: case.owner.clone(),
        orgs: vec![previous_org, case.status.org_id.clone()],
        status: case.status.clone(),
        referral_id: case.referral_id.clone(),
    })
}

#[cfg(test)]
mod tests;

//! The status view agencies read: every case's progress, built from events,
//! with a log per agency that WatchStatus streams.

use std::sync::Arc;

use async_trait::async_trait;
use fengqiao_domain::referral::is_newer;
use fengqiao_domain::result::Progress;
use fengqiao_platform::bus::Envelope;
use fengqiao_platform::consumer::{EventHandler, HandlerError};
use fengqiao_platform::db::now_micros;
use fengqiao_proto::fengqiao::common::v1::ReferralState;
use fengqiao_proto::fengqiao::gateway::v1::CaseStatus;
use sqlx::{Any, Transaction};
use tokio::sync::Notify;

use crate::store;

/// Applies case progress to the status view.
pub struct StatusProjection {
    /// Woken when status changes are committed, so the sequencer numbers them.
    pub written: Arc<Notify>,
}

/// Numbers committed status changes as they come (see [`store::number_new`]),
/// then wakes `changed`'s waiters (streams, callbacks), until `shutdown`.
pub async fn number_changes(
    db: fengqiao_platform::Database,
    written: Arc<Notify>,
    changed: Arc<Notify>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        match store::number_new(&db).await {
            Ok(0) => {}
            Ok(_) => {
                changed.notify_waiters();
                continue; // there may be more
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot number new status changes; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = written.notified() => {}
            // Another gateway replica's changes, or a wake-up missed.
            _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {}
        }
    }
}

#[async_trait]
impl EventHandler for StatusProjection {
    async fn handle(&self, tx: &mut Transaction<'static, Any>, event: &Envelope) -> Result<(), HandlerError> {
        let Some(kind) = event.kind() else {
            return Ok(());
        };
        let Some(progress) = Progress::decode(kind, &event.payload) else {
            return Ok(());
        };
        let progress = progress?;
        let at = now_micros();
        let mut stored = store::status(tx, progress.case_id()).await?;
        if let Progress::Registered(e) = &progress {
            // The submit call usually recorded the case already (with its number): reading it
            // is enough. Otherwise (a registration that came another way, or ahead of its
            // submit's answer) the event records it, or fills in the number.
            if stored.as_ref().is_none_or(|s| s.status.case_no.is_empty()) {
                let external_ref = e.dispute.as_ref().map(|d| d.external_ref.clone()).unwrap_or_default();
                let status = CaseStatus {
                    case_id: e.case_id.clone(),
                    case_no: e.case_no.clone(),
                    external_ref,
                    ..Default::default()
                };
                stored = Some(store::own(tx, &e.source_agency, &status, at).await?);
            }
        }
        // Referral ids are UUIDv7, in the order routing made them: a larger one is newer.
        let store::Stored { owner: agency, mut status, referral_id: current, .. } =
            stored.ok_or_else(|| HandlerError(format!("case {} has no status yet", progress.case_id())))?;
        let previous_org = status.org_id.clone();
        // A newer referral the status follows from now on, written with it.
        let mut follow = None;
        match progress {
            // A registration retried after a crash, when later changes went through: nothing new.
            Progress::Registered(_) if status.referral_state != 0 || status.outcome != 0 => return Ok(()),
            Progress::Registered(_) => {}
            Progress::Requested(e) => {
                // A retried delivery of this referral's request (its moves may have come
                // first), or of an earlier referral's: stale.
                if e.referral_id <= current {
                    return Ok(());
                }
                follow = Some(e.referral_id.clone());
                status.referral_state = ReferralState::Requested as i32;
                status.org_id = e.org_id;
                status.reason.clear();
            }
            Progress::Moved(e) => {
                if e.referral_id < current {
                    // A move of an earlier referral (e.g. cancelled by a re-route) arriving late.
                    return Ok(());
                }
                let same = e.referral_id == current;
                if same && !is_newer(status.referral_state(), e.from_state(), e.to_state()) {
                    // Retried after a crash while later moves went through: already superseded.
                    return Ok(());
                }
                if !same {
                    // Its request is still on its way (a retried delivery): follow the referral now.
                    follow = Some(e.referral_id.clone());
                }
                status.referral_state = e.to_state;
                status.org_id = e.org_id;
                status.reason = e.reason;
            }
            Progress::Concluded(e) => {
                if e.referral_id < current {
                    return Ok(());
                }
                if e.referral_id > current {
                    // Its request and moves are still on their way: follow the referral now.
                    follow = Some(e.referral_id.clone());
                }
                status.outcome = e.outcome;
            }
            Progress::Returned(e) => {
                status.returned_to_sender = true;
                status.reason = e.reason;
            }
        }
        status.updated_at = Some(fengqiao_platform::db::timestamp(at));
        // The organisation handling the case follows it too, and one it left learns where it went.
        store::save(tx, &agency, &[&previous_org, &status.org_id], &status, follow.as_deref(), at).await?;
        Ok(())
    }

    fn committed(&self) {
        // The sequencer numbers what was just committed (a stored permit if it is busy).
        self.written.notify_one();
    }
}

//! Wakes the WatchStatus streams of the agencies whose status log grew, and
//! only those: one query per numbering commit (or poll) for the whole
//! process, instead of one per open stream. Where the sequencer numbers
//! changes after commit (PostgreSQL), it rings the agencies it numbered for
//! itself, and this query runs only by the poll, for other replicas' changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use fengqiao_platform::Database;
use sqlx::Row;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How often the log is checked without a wake-up: changes numbered by
/// another gateway replica are seen within this.
const POLL: Duration = Duration::from_millis(250);

/// The streams waiting for news, by agency.
#[derive(Default)]
pub struct Watchers {
    waiting: Mutex<HashMap<String, Weak<Notify>>>,
}

impl Watchers {
    /// The bell of `agency_id`'s streams (shared by all of them).
    pub fn bell(&self, agency_id: &str) -> Arc<Notify> {
        let mut waiting = self.waiting.lock().expect("not poisoned");
        if let Some(bell) = waiting.get(agency_id).and_then(Weak::upgrade) {
            return bell;
        }
        let bell = Arc::new(Notify::new());
        waiting.insert(agency_id.to_string(), Arc::downgrade(&bell));
        bell
    }

    /// Wakes the streams of `agencies`; forgets agencies nobody watches.
    pub fn ring<'a>(&self, agencies: impl IntoIterator<Item = &'a str>) {
        let mut waiting = self.waiting.lock().expect("not poisoned");
        for agency in agencies {
            match waiting.get(agency).map(Weak::upgrade) {
                Some(Some(bell)) => bell.notify_waiters(),
                Some(None) => {
                    waiting.remove(agency);
                }
                None => {}
            }
        }
    }

    /// Follows the status log until `shutdown`: whenever `numbered` rings
    /// (this process numbered changes) or [`POLL`] passes, finds which
    /// agencies have changes after the last seen and rings for them.
    pub async fn follow(self: Arc<Self>, db: Database, numbered: Arc<Notify>, shutdown: CancellationToken) {
        let mut seen = None;
        let mut outage = fengqiao_platform::outage::Outage::new(db.component(), "reading the status log for streams");
        loop {
            let woken = numbered.notified();
            match news(&db, seen).await {
                Ok((last, agencies, more)) => {
                    outage.worked();
                    seen = Some(last);
                    self.ring(agencies.iter().map(String::as_str));
                    if more {
                        continue;
                    }
                }
                Err(e) => outage.failed(&e),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = woken => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }
}

/// The most changes one look reads.
const PAGE: i64 = 1000;

/// The last numbered change, the agencies with changes after `seen` (none on
/// the first look: streams read their own backlog when they open), and
/// whether there may be more.
async fn news(db: &Database, seen: Option<i64>) -> Result<(i64, Vec<String>, bool), sqlx::Error> {
    let Some(seen) = seen else {
        let last: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM status_log").fetch_one(db.pool()).await?;
        return Ok((last.unwrap_or(0), Vec::new(), false));
    };
    // By the seq index, a page at a time (an aggregate over `seq > $1` is planned as a scan).
    let rows = sqlx::query("SELECT agency_id, seq FROM status_log WHERE seq > $1 ORDER BY seq LIMIT $2")
        .bind(seen)
        .bind(PAGE)
        .fetch_all(db.pool())
        .await?;
    let full = rows.len() as i64 == PAGE;
    let mut last = seen;
    let mut agencies: Vec<String> = Vec::new();
    for row in rows {
        last = last.max(row.try_get("seq")?);
        let agency: String = row.try_get("agency_id")?;
        if !agencies.contains(&agency) {
            agencies.push(agency);
        }
    }
    Ok((last, agencies, full))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    fn rung(notified: &mut std::pin::Pin<&mut impl Future<Output = ()>>) -> bool {
        matches!(notified.as_mut().poll(&mut Context::from_waker(Waker::noop())), Poll::Ready(()))
    }

    #[test]
    fn only_the_agencies_with_news_are_woken() {
        let watchers = Watchers::default();
        let (a, b) = (watchers.bell("police-a"), watchers.bell("police-b"));
        let also_a = watchers.bell("police-a");
        assert!(Arc::ptr_eq(&a, &also_a), "an agency's streams share one bell");
        let (mut wait_a, mut wait_b) = (pin!(a.notified()), pin!(b.notified()));
        watchers.ring(["police-a", "police-nobody-watches"]);
        assert!(rung(&mut wait_a));
        assert!(!rung(&mut wait_b), "another agency's stream stays asleep");
    }

    #[test]
    fn an_agency_whose_streams_closed_is_forgotten() {
        let watchers = Watchers::default();
        drop(watchers.bell("police-a"));
        watchers.ring(["police-a"]);
        assert!(watchers.waiting.lock().unwrap().is_empty());
    }
}

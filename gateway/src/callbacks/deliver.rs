//! The callback deliverer: posts each agency's new status changes to its
//! callback URL in batches (the body is a ListStatusChangesResponse in JSON),
//! signed, one delivery in flight per agency so changes arrive in order. A
//! failed delivery is retried with doubling waits; after the configured
//! attempts it is dead-lettered and the changes after it flow on.

use std::sync::Arc;
use std::time::Duration;

use fengqiao_platform::config::AgencyApiSettings;
use fengqiao_platform::db::now_micros;
use fengqiao_platform::Database;
use fengqiao_proto::fengqiao::gateway::v1::{ListStatusChangesResponse, StatusChange};
use prost::Message;
use prost_reflect::{DescriptorPool, MessageDescriptor};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::signature;
use super::store::{self, DeadLetter, Stored};

/// The most changes one delivery carries.
const BATCH: i64 = 100;
/// The most deliveries under way at once (one per agency).
const AT_ONCE: usize = 32;
/// How often the deliverer looks for work when not woken.
const POLL: Duration = Duration::from_millis(500);
/// The longest wait between attempts.
const MAX_BACKOFF_MICROS: i64 = 600_000_000;

/// Delivers callbacks until shut down.
pub struct Deliverer {
    db: Database,
    client: reqwest::Client,
    settings: AgencyApiSettings,
    body_type: MessageDescriptor,
    changed: Arc<Notify>,
}

impl Deliverer {
    /// A deliverer on `db`, woken by `changed`.
    pub fn new(db: Database, settings: AgencyApiSettings, pool: &DescriptorPool, changed: Arc<Notify>) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(settings.callback_timeout_secs))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("fengqiao-callbacks/1")
            .build()
            .expect("a TLS provider is installed before the gateway starts");
        let body_type = pool
            .get_message_by_name("fengqiao.gateway.v1.ListStatusChangesResponse")
            .expect("the agency API is compiled in");
        Self { db, client, settings, body_type, changed }
    }

    /// Delivers until `shutdown`, then lets deliveries under way finish (for
    /// up to the receivers' timeout).
    pub async fn run(self, shutdown: CancellationToken) {
        let me = Arc::new(self);
        let mut under_way = JoinSet::new();
        let mut outage = fengqiao_platform::outage::Outage::new(me.db.component(), "looking for callbacks to deliver");
        loop {
            let woken = me.changed.notified();
            while let Some(done) = under_way.try_join_next() {
                report(done);
            }
            outage.record(&me.start_due(&mut under_way).await);
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = woken => {}
                _ = tokio::time::sleep(POLL) => {}
                Some(done) = under_way.join_next(), if !under_way.is_empty() => report(done),
            }
        }
        let grace = Duration::from_secs(me.settings.callback_timeout_secs + 1);
        let _ = tokio::time::timeout(grace, async {
            while let Some(done) = under_way.join_next().await {
                report(done);
            }
        })
        .await;
    }

    /// Leases due callbacks and starts their deliveries, up to [`AT_ONCE`]
    /// under way; a slow receiver holds back only its own agency.
    async fn start_due(self: &Arc<Self>, under_way: &mut JoinSet<Result<(), sqlx::Error>>) -> Result<(), sqlx::Error> {
        let room = AT_ONCE.saturating_sub(under_way.len());
        if room == 0 {
            return Ok(());
        }
        let now = now_micros();
        // Looked up on a reading connection: it runs after every batch of
        // status changes, and mostly finds nothing; only a lease needs the
        // writer (and re-checks that no one else took it).
        let due = store::due(&mut *self.db.pool().acquire().await?, now, room as i64).await?;
        if due.is_empty() {
            return Ok(());
        }
        let mut conn = self.db.writer().acquire().await?;
        let lease_until = now + 2 * (self.settings.callback_timeout_secs as i64 + 5) * 1_000_000;
        for agency_id in due {
            if store::lease(&mut conn, &agency_id, now, lease_until).await? {
                let me = self.clone();
                under_way
                    .spawn(fengqiao_platform::db::held_by("callbacks", async move { me.deliver(&agency_id).await }));
            }
        }
        Ok(())
    }

    /// Posts an agency's next batch and records what happened.
    async fn deliver(&self, agency_id: &str) -> Result<(), sqlx::Error> {
        let mut conn = self.db.pool().acquire().await?;
        let Some(callback) = store::get(&mut conn, agency_id).await? else { return Ok(()) };
        let page = crate::store::log_after(&mut conn, agency_id, callback.delivered_seq, BATCH).await?;
        drop(conn);
        let Some(last) = page.last().map(|(seq, _)| *seq) else {
            let mut conn = self.db.writer().acquire().await?;
            return store::settle(&mut conn, &callback, callback.delivered_seq, callback.attempts, "", 0).await;
        };
        let body = self.body(page);
        let outcome = self.post(&callback, body).await;
        let mut tx = self.db.begin().await?;
        match outcome {
            Ok(()) => store::settle(&mut tx, &callback, last, 0, "", 0).await?,
            Err(error) => {
                let attempts = callback.attempts + 1;
                let now = now_micros();
                if attempts as u32 >= self.settings.callback_max_attempts.max(1) {
                    tracing::warn!(agency = agency_id, attempts, error = %error, "callback delivery dead-lettered");
                    let dead = DeadLetter {
                        after_seq: callback.delivered_seq,
                        last_seq: last,
                        url: callback.url.clone(),
                        last_error: error,
                        attempts,
                        dead_at: now,
                    };
                    store::bury(&mut tx, agency_id, &dead).await?;
                    store::settle(&mut tx, &callback, last, 0, &dead.last_error, 0).await?;
                } else {
                    tracing::info!(agency = agency_id, attempts, error = %error, "callback delivery failed; will retry");
                    let next = now + backoff_micros(self.settings.callback_backoff_ms, attempts);
                    store::settle(&mut tx, &callback, callback.delivered_seq, attempts, &error, next).await?;
                }
            }
        }
        tx.commit().await
    }

    /// The JSON body of a batch.
    fn body(&self, page: Vec<(i64, fengqiao_proto::fengqiao::gateway::v1::CaseStatus)>) -> Vec<u8> {
        let next_cursor = page.last().map(|(seq, _)| seq.to_string()).unwrap_or_default();
        let changes =
            page.into_iter().map(|(seq, status)| StatusChange { status: Some(status), cursor: seq.to_string() });
        let message = ListStatusChangesResponse { changes: changes.collect(), next_cursor };
        crate::http::json(&self.body_type, &message.encode_to_vec()).expect("a status page serialises")
    }

    /// Posts one batch; the error says why it failed (no body of the answer, which may hold anything).
    async fn post(&self, c: &Stored, body: Vec<u8>) -> Result<(), String> {
        let timestamp = now_micros() / 1_000_000;
        let answer = self
            .client
            .post(&c.url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(signature::TIMESTAMP_HEADER, timestamp.to_string())
            .header(signature::SIGNATURE_HEADER, signature::sign(&c.secret, timestamp, &body))
            .header(signature::DELIVERY_HEADER, c.delivered_seq.to_string())
            .body(body)
            .send()
            .await;
        match answer {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("the receiver answered HTTP {}", r.status().as_u16())),
            Err(e) if e.is_timeout() => Err("the receiver did not answer in time".into()),
            Err(e) if e.is_connect() => Err("cannot connect to the receiver".into()),
            Err(_) => Err("the request to the receiver failed".into()),
        }
    }
}

fn report(done: Result<Result<(), sqlx::Error>, tokio::task::JoinError>) {
    if let Ok(Err(e)) = done {
        tracing::warn!(error = %e, "cannot record a callback delivery; it will be tried again");
    }
}

/// The wait before attempt `attempts + 1`: `base_ms` doubled per failure so far, up to ten minutes.
fn backoff_micros(base_ms: u64, attempts: i32) -> i64 {
    let doublings = (attempts - 1).clamp(0, 30) as u32;
    (base_ms as i64 * 1000).saturating_mul(1 << doublings).min(MAX_BACKOFF_MICROS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn waits_double_from_the_base_up_to_ten_minutes() {
        assert_eq!(super::backoff_micros(1000, 1), 1_000_000);
        assert_eq!(super::backoff_micros(1000, 2), 2_000_000);
        assert_eq!(super::backoff_micros(1000, 4), 8_000_000);
        assert_eq!(super::backoff_micros(1000, 20), 600_000_000);
    }
}

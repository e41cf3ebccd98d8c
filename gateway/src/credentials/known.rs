//! Credentials this gateway looked up, kept while PostgreSQL tells it of every
//! change to the credentials and agencies (a trigger on both tables notifies
//! `fq_credentials`; migration 10). An agency's calls then cost no lookup each
//! (on PostgreSQL a round trip and a transaction a call, a fifth of a
//! referral's commits), and a revocation, a new key or a disabled agency still
//! takes effect as soon as its commit is heard of, within milliseconds.
//!
//! Kept only while listening: until the listener has subscribed, after its
//! connection drops (notifications sent meanwhile are lost) and on SQLite,
//! every call looks its credential up. Each notification, and each
//! (re)subscription, forgets everything; a lookup that started before one is
//! not kept (its row may predate the change).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use fengqiao_platform::metrics::{Reading, CREDENTIALS_LISTENING};
use fengqiao_platform::outage::Outage;
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

use super::store::Credential;
use crate::store::Agency;

/// The channel the trigger notifies.
pub const CHANNEL: &str = "fq_credentials";

/// The most credentials kept; when full, all are forgotten (each is looked up again once).
const CAPACITY: usize = 4_096;

/// A credential with its agency and whether the agency is disabled, as looked up.
pub type Found = (Credential, Agency, bool);

/// The credentials kept (one per gateway, never shared between databases).
#[derive(Default)]
pub struct Known {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    listening: bool,
    /// Moves on at every forgetting: a lookup keeps its find only if it has not moved since.
    generation: u64,
    entries: HashMap<String, Found>,
}

/// Where a lookup started: kept with its find only if nothing changed since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(Option<u64>);

impl Known {
    /// The credential kept under `id`, if this gateway is listening.
    pub fn get(&self, id: &str) -> Option<Found> {
        let state = self.state.lock().expect("known credentials lock");
        state.listening.then(|| state.entries.get(id).cloned()).flatten()
    }

    /// Taken before a lookup, for [`Self::keep`].
    pub fn ticket(&self) -> Ticket {
        let state = self.state.lock().expect("known credentials lock");
        Ticket(state.listening.then_some(state.generation))
    }

    /// Keeps what a lookup found, unless a change was heard of (or listening
    /// stopped) since its `ticket` was taken.
    pub fn keep(&self, ticket: Ticket, id: &str, found: &Found) {
        let mut state = self.state.lock().expect("known credentials lock");
        if !state.listening || ticket.0 != Some(state.generation) {
            return;
        }
        if state.entries.len() >= CAPACITY {
            state.entries.clear();
        }
        state.entries.insert(id.to_string(), found.clone());
    }

    /// Forgets everything; from now on keeps finds only if `listening` (and
    /// says so in [`CREDENTIALS_LISTENING`]).
    fn forget_all(&self, listening: bool) {
        let mut state = self.state.lock().expect("known credentials lock");
        state.generation += 1;
        state.listening = listening;
        state.entries.clear();
        let reading = Reading::new(CREDENTIALS_LISTENING, if listening { 1.0 } else { 0.0 });
        fengqiao_platform::metrics::record("gateway", &[reading]);
    }

    /// Listens on `url` (PostgreSQL) for changes until `stop`, forgetting
    /// everything at each; while not subscribed, keeps nothing. Reconnects
    /// after a failure, every `retry`; warns at the first failure and then at
    /// most every [`WARN_EVERY`](fengqiao_platform::outage::WARN_EVERY) while they go on (an outage of the database
    /// is one warning a minute, not one a `retry`).
    pub async fn listen(&self, url: String, retry: Duration, stop: CancellationToken) {
        // Shown as not listening from the start: a gateway that never subscribes raises the alert too.
        self.forget_all(false);
        let mut outage = Outage::new("gateway", "credential listener");
        while !stop.is_cancelled() {
            let failure = tokio::select! {
                _ = stop.cancelled() => break,
                failure = self.listen_once(&url, &mut outage) => failure,
            };
            self.forget_all(false);
            if let Some(failed) = outage.count(std::time::Instant::now()) {
                tracing::warn!(
                    error = %failure,
                    failed,
                    "not hearing of credential changes: every call looks its credential up until the gateway \
                     reconnects to the database (it retries every {} ms; `failed` counts the attempts since \
                     the last warning)",
                    retry.as_millis()
                );
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(retry) => {}
            }
        }
        self.forget_all(false);
    }

    /// Subscribes and forgets at each notification; returns why it stopped.
    /// Once subscribed, ends `outage` (saying so, after failures).
    async fn listen_once(&self, url: &str, outage: &mut Outage) -> sqlx::Error {
        let mut listener = match PgListener::connect(url).await {
            Ok(listener) => listener,
            Err(e) => return e,
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            return e;
        }
        // Anything kept before may have changed unheard.
        self.forget_all(true);
        outage.worked();
        loop {
            match listener.try_recv().await {
                Ok(Some(_)) => self.forget_all(true),
                Ok(None) => {
                    // The connection dropped (and was made again, subscribed): what
                    // changed in between went unheard.
                    tracing::info!("credential changes: the listening connection was lost and made again");
                    self.forget_all(true);
                }
                Err(e) => return e,
            }
        }
    }

    /// Whether finds are kept (listening).
    #[cfg(test)]
    pub fn is_listening(&self) -> bool {
        self.state.lock().expect("known credentials lock").listening
    }
}

#[cfg(test)]
mod tests;

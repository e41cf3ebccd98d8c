//! The NATS stream kept in being: made at connect, and made again by a running
//! process that finds it gone (its storage lost, or `nats stream rm`), so the
//! relays and consumers go on without a restart.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};

/// How often at most a process makes the stream again after publishes found
/// it missing (each failed acknowledgement of a relay's batch would ask).
const REMAKE_AT_MOST_EVERY: Duration = Duration::from_secs(1);

/// The stream's settings and the means to make it.
#[derive(Debug)]
pub(super) struct StreamKeeper {
    js: jetstream::Context,
    pub(super) config: stream::Config,
    /// When a publish that found no stream last made it again.
    remade_at: Mutex<Option<Instant>>,
}

impl StreamKeeper {
    pub(super) fn new(js: jetstream::Context, config: stream::Config) -> Self {
        Self { js, config, remade_at: Mutex::new(None) }
    }

    /// The stream, made if it is not there: consumers that subscribe again
    /// (their pull ends with the stream) bring it back within a second.
    pub(super) async fn stream(&self) -> Result<stream::Stream, String> {
        self.js.get_or_create_stream(self.config.clone()).await.map_err(|e| e.to_string())
    }

    /// After a publish found no stream: makes it again (at most once a second).
    /// The events published before the loss and not yet consumed went with it;
    /// the warning says how to send them again.
    pub(super) async fn remake_missing(&self) {
        {
            let mut remade_at = self.remade_at.lock().expect("the stream's remake time is never poisoned");
            if remade_at.is_some_and(|at| at.elapsed() < REMAKE_AT_MOST_EVERY) {
                return;
            }
            *remade_at = Some(Instant::now());
        }
        match self.stream().await {
            Ok(_) => tracing::warn!(
                stream = %self.config.name,
                "the NATS stream was missing (its storage lost, or deleted); made it again. Events published \
                 before the loss and not yet consumed must be sent again: fengqiao outbox resend --since <a moment \
                 before the loss> (docs/operations.md, NATS stream recovery)"
            ),
            Err(e) => tracing::warn!(
                stream = %self.config.name,
                error = %e,
                "the NATS stream is missing and cannot be made again yet; retrying"
            ),
        }
    }
}

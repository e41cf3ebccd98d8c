//! The NATS stream kept in being: made at connect, and made again by a running
//! process that finds it gone (its storage lost, or `nats stream rm`), so the
//! relays and consumers go on without a restart.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_nats::jetstream::context::CreateStreamErrorKind;
use async_nats::jetstream::{self, stream, ErrorCode};

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
    pub(super) async fn stream(&self) -> Result<stream::Stream, Unmade> {
        let name = &self.config.name;
        let made = found_if_not_made(self.js.get_or_create_stream(self.config.clone()), || self.js.get_stream(name));
        made.await.map_err(|refused| Unmade {
            subjects_taken: matches!(refused.kind(),
                CreateStreamErrorKind::JetStream(e) if e.error_code() == ErrorCode::STREAM_SUBJECT_OVERLAP),
            reason: refused.to_string(),
            subjects: self.config.subjects.join(", "),
        })
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

/// What `make` made, or else what `find` finds then: the processes of a distributed start each
/// find the stream missing and make it, and NATS may refuse the one that loses the race ("subjects
/// overlap with an existing stream": its own, made a moment before). A stream still not found is a
/// real refusal (another stream holds the subjects, or NATS cannot be reached): `make`'s error.
async fn found_if_not_made<T, E, F: std::future::Future<Output = Result<T, impl Sized>>>(
    make: impl std::future::Future<Output = Result<T, E>>,
    find: impl FnOnce() -> F,
) -> Result<T, E> {
    match make.await {
        Ok(made) => Ok(made),
        Err(refused) => find().await.map_err(|_| refused),
    }
}

/// Why the stream could not be had: NATS's reason, and what to do where another stream holds
/// its subjects (two deployments sharing one NATS with the same `bus.subject_prefix`).
#[derive(Debug)]
pub(super) struct Unmade {
    /// NATS refused it because another stream holds its subjects.
    pub(super) subjects_taken: bool,
    reason: String,
    subjects: String,
}

impl std::fmt::Display for Unmade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.reason)?;
        if self.subjects_taken {
            write!(
                f,
                "; another stream holds its subjects ({}): give this deployment its own bus.subject_prefix, or set \
                 bus.stream to the name of the stream that holds them",
                self.subjects
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::found_if_not_made;
    use crate::bus::nats::NatsBus;

    #[tokio::test]
    async fn a_stream_another_process_made_while_this_one_was_refused_is_taken() {
        let made = found_if_not_made(async { Err::<u8, _>("subjects overlap") }, || async { Ok::<_, ()>(7) }).await;
        assert_eq!(made, Ok(7));
        let refused = found_if_not_made(async { Err::<u8, _>("subjects overlap") }, || async { Err(()) }).await;
        assert_eq!(refused, Err("subjects overlap"));
    }

    #[tokio::test]
    async fn processes_starting_at_once_all_connect_though_they_race_to_make_the_stream() {
        for _ in 0..10 {
            let mut settings = crate::testing::settings().bus;
            settings.nats_url = crate::testing::nats_url();
            let buses = futures::future::join_all((0..8).map(|_| NatsBus::connect(&settings))).await;
            let failed: Vec<String> = buses.iter().filter_map(|b| b.as_ref().err().map(|e| e.to_string())).collect();
            let bus = buses.into_iter().find_map(Result::ok).expect("one process made the stream");
            bus.delete_stream().await.unwrap();
            assert!(failed.is_empty(), "{} of 8 could not start: {failed:?}", failed.len());
        }
    }

    #[tokio::test]
    async fn a_stream_whose_subjects_another_stream_holds_is_refused_with_natss_reason() {
        let mut settings = crate::testing::settings().bus;
        settings.nats_url = crate::testing::nats_url();
        let first = NatsBus::connect(&settings).await.unwrap();
        let mut other = settings.clone();
        other.stream = format!("{}_OTHER", settings.stream);
        let refused = NatsBus::connect(&other).await.expect_err("two streams cannot hold one subject");
        first.delete_stream().await.unwrap();
        let message = refused.to_string();
        assert!(message.contains("overlap") && message.contains("bus.subject_prefix"), "{message}");
        assert!(!message.contains("cannot reach NATS"), "NATS was reached: {message}");
    }
}

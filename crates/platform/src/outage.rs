//! A background loop's run of failures (a database or bus outage, say):
//! warned at the first failure and then once a [`WARN_EVERY`] while they go
//! on, with the attempts since the last warning, and its end told once — not
//! a warning every pass, which for some loops is every quarter second.

use std::fmt::Display;
use std::time::{Duration, Instant};

/// The least time between two warnings of one loop's failures while they go on.
pub const WARN_EVERY: Duration = Duration::from_secs(60);

/// One loop's failures since it last worked.
#[derive(Debug)]
pub struct Outage {
    /// The component whose loop it is (`routing`, `gateway`, …): standalone
    /// mode runs them all in one process.
    component: String,
    /// What fails, as an operator would name it ("clock sweep").
    what: &'static str,
    /// When the last warning was given, while failures go on.
    warned: Option<Instant>,
    /// Failures since the last warning.
    unwarned: u32,
    /// Failures since the loop last worked.
    failed: u32,
}

impl Outage {
    /// No failure yet, of `component`'s loop that does `what`.
    pub fn new(component: &str, what: &'static str) -> Self {
        Self { component: component.to_string(), what, warned: None, unwarned: 0, failed: 0 }
    }

    /// Counts a failure at `now`; the failures since the last warning when
    /// one is due now (the first of a run, then one a [`WARN_EVERY`]).
    pub fn count(&mut self, now: Instant) -> Option<u32> {
        self.failed += 1;
        self.unwarned += 1;
        if self.warned.is_some_and(|warned| now.duration_since(warned) < WARN_EVERY) {
            return None;
        }
        self.warned = Some(now);
        Some(std::mem::take(&mut self.unwarned))
    }

    /// Ends a run of failures: how many there were, if there were any.
    pub fn end(&mut self) -> Option<u32> {
        self.warned = None;
        self.unwarned = 0;
        Some(std::mem::take(&mut self.failed)).filter(|&failed| failed > 0)
    }

    /// Counts a failure with `error`, and warns when due.
    pub fn failed(&mut self, error: &dyn Display) {
        if let Some(failed) = self.count(Instant::now()) {
            tracing::warn!(
                component = %self.component,
                task = self.what,
                error = %error,
                failed,
                "{} failed; retrying (`failed`: the attempts since the last warning; warned again each minute \
                 while it fails, and told when it works again)",
                self.what
            );
        }
    }

    /// The loop worked: says so once after a run of failures.
    pub fn worked(&mut self) {
        if let Some(failed) = self.end() {
            tracing::info!(component = %self.component, task = self.what, failed, "{} works again after {failed} failed attempts", self.what);
        }
    }

    /// [`Self::worked`] or [`Self::failed`], as `result` says.
    pub fn record<T, E: Display>(&mut self, result: &Result<T, E>) {
        match result {
            Ok(_) => self.worked(),
            Err(e) => self.failed(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_one_warning_a_minute_not_one_a_pass() {
        let mut outage = Outage::new("routing", "clock sweep");
        let start = Instant::now();
        let at = |secs: u64| start + Duration::from_secs(secs);
        assert_eq!(outage.count(at(0)), Some(1), "the first failure warns");
        for secs in 1..60 {
            assert_eq!(outage.count(at(secs)), None, "{secs} s into the outage");
        }
        assert_eq!(outage.count(at(60)), Some(60), "a minute on: the attempts since the last warning");
        assert_eq!(outage.count(at(61)), None);
        assert_eq!(outage.end(), Some(62), "its end counts every failure of the run");
        assert_eq!(outage.end(), None, "told once");
        // A new run warns at once, however soon.
        assert_eq!(outage.count(at(62)), Some(1));
    }

    #[test]
    fn a_loop_that_never_failed_has_no_outage_to_end() {
        let mut outage = Outage::new("routing", "load fold");
        assert_eq!(outage.end(), None);
    }
}

//! Per-agency limits: a rate (token bucket with a burst) and a number of calls
//! in progress at once. A call over either answers RESOURCE_EXHAUSTED at once
//! with retry advice — nothing queues, so overload never grows memory or
//! latency for the agencies within their limits.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fengqiao_platform::config::AgencyApiSettings;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::{Code, Status};

/// The limits of every agency.
pub struct Limits {
    rate: DefaultKeyedRateLimiter<String>,
    in_progress: Mutex<HashMap<String, Arc<Semaphore>>>,
    max_in_progress: usize,
}

/// Held while a call runs; dropping it frees the agency's place.
pub struct Admitted(#[allow(dead_code)] OwnedSemaphorePermit);

impl Limits {
    /// The limits `settings` set.
    pub fn new(settings: &AgencyApiSettings) -> Self {
        let per_second = NonZeroU32::new(settings.rate_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(settings.rate_burst.max(settings.rate_per_second)).unwrap_or(per_second);
        Self {
            rate: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
            in_progress: Mutex::new(HashMap::new()),
            max_in_progress: settings.max_concurrent_calls.max(1) as usize,
        }
    }

    /// Admits one call of `agency_id`, or says when to come back.
    pub fn admit(&self, agency_id: &str) -> Result<Admitted, Status> {
        let key = agency_id.to_string();
        if let Err(not_until) = self.rate.check_key(&key) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            return Err(fengqiao_platform::status::retry_later(
                Code::ResourceExhausted,
                "your agency is over its call rate; slow down and retry after the advised delay",
                wait.max(Duration::from_millis(1)),
            ));
        }
        let semaphore = {
            let mut map = self.in_progress.lock().expect("the limits' lock is never poisoned");
            map.entry(key).or_insert_with(|| Arc::new(Semaphore::new(self.max_in_progress))).clone()
        };
        semaphore.try_acquire_owned().map(Admitted).map_err(|_| {
            fengqiao_platform::status::retry_later(
                Code::ResourceExhausted,
                format!(
                    "your agency already has {} calls in progress; wait for some to finish, then retry",
                    self.max_in_progress
                ),
                Duration::from_secs(1),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(rate: u32, burst: u32, concurrent: u32) -> AgencyApiSettings {
        AgencyApiSettings {
            rate_per_second: rate,
            rate_burst: burst,
            max_concurrent_calls: concurrent,
            ..Default::default()
        }
    }

    #[test]
    fn a_burst_past_the_rate_is_refused_with_advice_and_other_agencies_go_on() {
        let limits = Limits::new(&settings(1, 3, 100));
        for _ in 0..3 {
            drop(limits.admit("police-1").unwrap());
        }
        let refused = limits.admit("police-1").err().unwrap();
        assert_eq!(refused.code(), Code::ResourceExhausted);
        let advice = fengqiao_platform::status::retry_after(&refused).unwrap();
        assert!(advice > Duration::ZERO && advice <= Duration::from_secs(1), "{advice:?}");
        assert!(limits.admit("court-1").is_ok());
    }

    #[test]
    fn calls_in_progress_past_the_limit_are_refused_until_one_ends() {
        let limits = Limits::new(&settings(1000, 1000, 2));
        let first = limits.admit("police-1").unwrap();
        let _second = limits.admit("police-1").unwrap();
        assert_eq!(limits.admit("police-1").err().unwrap().code(), Code::ResourceExhausted);
        drop(first);
        assert!(limits.admit("police-1").is_ok());
    }
}

/// How long a call may run: the caller's `grpc-timeout` if given and shorter
/// than `cap`, else `cap`.
pub fn deadline(metadata: &tonic::metadata::MetadataMap, cap: Duration) -> Duration {
    metadata.get("grpc-timeout").and_then(|v| v.to_str().ok()).and_then(grpc_timeout).map_or(cap, |t| t.min(cap))
}

/// A `grpc-timeout` value: up to 8 digits and a unit (H, M, S, m, u, n).
fn grpc_timeout(text: &str) -> Option<Duration> {
    let (digits, unit) = text.split_at(text.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod deadline_tests {
    use super::*;

    #[test]
    fn the_callers_timeout_wins_only_when_shorter() {
        assert_eq!(grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(grpc_timeout("123456789S"), None);
        assert_eq!(grpc_timeout("S"), None);
        assert_eq!(grpc_timeout("10x"), None);
        let mut md = tonic::metadata::MetadataMap::new();
        assert_eq!(deadline(&md, Duration::from_secs(30)), Duration::from_secs(30));
        md.insert("grpc-timeout", "500m".parse().unwrap());
        assert_eq!(deadline(&md, Duration::from_secs(30)), Duration::from_millis(500));
        md.insert("grpc-timeout", "5M".parse().unwrap());
        assert_eq!(deadline(&md, Duration::from_secs(30)), Duration::from_secs(30));
    }
}

//! What a run records: latencies in HDR histograms (microseconds, three
//! significant figures), outcomes by gRPC code, and a per-second timeline for
//! the chart.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    /// How many samples they are made of.
    pub count: u64,
}

impl Percentiles {
    /// The percentiles of `h` (microseconds).
    pub fn of<T: hdrhistogram::Counter>(h: &Histogram<T>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            count: h.len(),
        }
    }
}

/// One second of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Second {
    /// Seconds since the start.
    pub t: u64,
    /// Submissions answered OK.
    pub ok: u64,
    /// Submissions answered with an error.
    pub errors: u64,
    /// Referrals that reached an organisation's inbox.
    pub inbox: u64,
    /// The p99 submit latency of this second's answers, ms.
    pub submit_p99_ms: f64,
}

/// The submit latency over the seconds of a run that no analysis of the bench touched.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct QuietSeconds {
    /// Seconds with answers that no analysis pass touched.
    pub seconds: u64,
    /// The latency of the submissions answered OK in them (two significant figures).
    pub submit_latency: Percentiles,
}

/// The referrals that reached an inbox only after the load had ended: in an open loop, delivery
/// fell behind; in a closed loop, also the last calls' referrals, in flight as the load ended.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct LateArrivals {
    /// How many.
    pub count: u64,
    /// How long after the load's end the last of them arrived, s.
    pub last_secs: f64,
}

/// Everything a run records.
pub struct Recorder {
    submit: Histogram<u64>,
    inbox: Histogram<u64>,
    per_second: Vec<(Histogram<u32>, Second)>,
    codes: BTreeMap<String, u64>,
    /// When the last referral reached an inbox, since the start.
    last_arrival: Duration,
}

fn histogram() -> Histogram<u64> {
    // 1 µs to 10 minutes.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

/// A second's histogram, for the chart's p99 only: two significant figures and 32-bit counts hold
/// 12 KB where the run's own histograms hold 172 KB, which a long run would take every second.
fn second_histogram() -> Histogram<u32> {
    Histogram::new_with_bounds(1, 600_000_000, 2).expect("valid histogram bounds")
}

fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, 600_000_000)
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            submit: histogram(),
            inbox: histogram(),
            per_second: Vec::new(),
            codes: BTreeMap::new(),
            last_arrival: Duration::ZERO,
        }
    }
}

impl Recorder {
    fn second(&mut self, at: Duration) -> &mut (Histogram<u32>, Second) {
        let t = at.as_secs() as usize;
        while self.per_second.len() <= t {
            let second = Second { t: self.per_second.len() as u64, ..Default::default() };
            self.per_second.push((second_histogram(), second));
        }
        &mut self.per_second[t]
    }

    /// A submission answered at `at` (since the start) after `latency`, with `code` (`OK` or a gRPC code name).
    pub fn submitted(&mut self, at: Duration, latency: Duration, code: &str) {
        *self.codes.entry(code.to_string()).or_default() += 1;
        let (h, second) = self.second(at);
        if code == "OK" {
            second.ok += 1;
            h.saturating_record(micros(latency));
            let _ = self.submit.record(micros(latency));
        } else {
            second.errors += 1;
        }
    }

    /// A referral that reached an inbox at `at`, `latency` after its submission.
    pub fn arrived(&mut self, at: Duration, latency: Duration) {
        self.second(at).1.inbox += 1;
        let _ = self.inbox.record(micros(latency));
        self.last_arrival = self.last_arrival.max(at);
    }

    /// Submissions answered OK.
    pub fn ok(&self) -> u64 {
        self.codes.get("OK").copied().unwrap_or(0)
    }

    /// Referrals that reached an inbox.
    pub fn arrivals(&self) -> u64 {
        self.inbox.len()
    }

    /// Referrals that reached an inbox within the run's first `load` (whole seconds).
    pub fn arrivals_during(&self, load: Duration) -> u64 {
        self.per_second.iter().filter(|(_, s)| s.t < load.as_secs()).map(|(_, s)| s.inbox).sum()
    }

    /// The referrals that reached an inbox after the run's first `load` (whole seconds), if any did.
    pub fn late_arrivals(&self, load: Duration) -> Option<LateArrivals> {
        let count = self.arrivals() - self.arrivals_during(load);
        (count > 0).then(|| LateArrivals { count, last_secs: self.last_arrival.saturating_sub(load).as_secs_f64() })
    }

    /// Percentiles of submit latency.
    pub fn submit_latency(&self) -> Percentiles {
        Percentiles::of(&self.submit)
    }

    /// Percentiles of submit → inbox latency.
    pub fn inbox_latency(&self) -> Percentiles {
        Percentiles::of(&self.inbox)
    }

    /// Outcomes by code.
    pub fn codes(&self) -> BTreeMap<String, u64> {
        self.codes.clone()
    }

    /// The submit latency over the seconds with answers that none of `passes` (from, to: seconds
    /// since the start) touched: a pass touches each second it overlaps and the one after it ends,
    /// while the plans it made stale are made again. `None` when there is no pass to leave out.
    pub fn quiet_seconds(&self, passes: &[(f64, f64)]) -> Option<QuietSeconds> {
        if passes.is_empty() {
            return None;
        }
        let touched = |t: f64| passes.iter().any(|&(from, to)| t < to + 1.0 && t + 1.0 > from);
        let mut merged = second_histogram();
        let mut seconds = 0;
        for (h, s) in &self.per_second {
            if s.ok + s.errors == 0 || touched(s.t as f64) {
                continue;
            }
            seconds += 1;
            merged.add(h).expect("the same bounds and precision");
        }
        Some(QuietSeconds { seconds, submit_latency: Percentiles::of(&merged) })
    }

    /// The timeline, one entry per second.
    pub fn timeline(&self) -> Vec<Second> {
        self.per_second
            .iter()
            .map(|(h, s)| Second {
                submit_p99_ms: if h.is_empty() { 0.0 } else { Percentiles::of(h).p99 },
                ..s.clone()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_and_latencies_land_in_their_second() {
        let mut r = Recorder::default();
        for ms in 1..=100 {
            r.submitted(Duration::from_millis(500), Duration::from_millis(ms), "OK");
        }
        r.submitted(Duration::from_millis(1500), Duration::from_millis(5), "UNAVAILABLE");
        r.arrived(Duration::from_millis(2100), Duration::from_millis(40));
        let p = r.submit_latency();
        assert_eq!(p.count, 100);
        assert!((p.p50 - 50.0).abs() < 0.1 && (p.p99 - 99.0).abs() < 0.1, "{p:?}");
        assert_eq!(r.codes()["UNAVAILABLE"], 1);
        assert_eq!(r.ok(), 100);
        let t = r.timeline();
        assert_eq!((t.len(), t[0].ok, t[1].errors, t[2].inbox), (3, 100, 1, 1));
        assert_eq!(t[1].submit_p99_ms, 0.0);
        assert_eq!(r.inbox_latency().count, 1);
    }

    #[test]
    fn arrivals_after_the_load_count_apart_from_the_rate_during_it() {
        let mut r = Recorder::default();
        for ms in [100, 900, 1_999] {
            r.arrived(Duration::from_millis(ms), Duration::from_millis(50));
        }
        let load = Duration::from_secs(2);
        assert_eq!((r.arrivals_during(load), r.late_arrivals(load)), (3, None), "all within the load");
        r.arrived(Duration::from_millis(2_000), Duration::from_millis(50));
        r.arrived(Duration::from_millis(4_500), Duration::from_millis(3_000));
        r.arrived(Duration::from_millis(3_000), Duration::from_millis(1_000));
        assert_eq!(r.arrivals_during(load), 3);
        assert_eq!(
            r.late_arrivals(load),
            Some(LateArrivals { count: 3, last_secs: 2.5 }),
            "the last, not the latest recorded"
        );
        assert_eq!(r.arrivals(), 6);
    }

    #[test]
    fn the_seconds_an_analysis_touched_are_left_out_of_the_quiet_latency() {
        let mut r = Recorder::default();
        for t in 0..10 {
            let latency = if t == 3 || t == 4 { 500 } else { 10 };
            for _ in 0..100 {
                r.submitted(Duration::from_secs(t), Duration::from_millis(latency), "OK");
            }
        }
        assert!((r.submit_latency().p99 - 500.0).abs() < 1.0, "the run's own p99 keeps every second");
        // A pass within second 3 touches it and the second after it ends.
        let quiet = r.quiet_seconds(&[(3.2, 3.9)]).expect("a pass to leave out");
        assert_eq!(quiet.seconds, 8);
        assert_eq!(quiet.submit_latency.count, 800);
        assert!((quiet.submit_latency.max - 10.0).abs() < 0.1, "{quiet:?}");
        // Seconds without answers (the settle) are not counted as quiet.
        r.arrived(Duration::from_secs(12), Duration::from_millis(40));
        assert_eq!(r.quiet_seconds(&[(3.2, 3.9)]).map(|q| q.seconds), Some(8));
        assert_eq!(r.quiet_seconds(&[]), None, "nothing analysed, nothing to tell apart");
    }

    /// The bytes the timeline's histograms hold.
    fn timeline_bytes(r: &Recorder) -> usize {
        r.per_second.iter().map(|(h, _)| h.distinct_values() * std::mem::size_of::<u32>()).sum()
    }

    #[test]
    fn an_hour_long_run_keeps_its_timeline_under_50_mb() {
        let mut r = Recorder::default();
        for s in 0..3_600 {
            r.submitted(Duration::from_secs(s), Duration::from_millis(20 + s % 7), "OK");
        }
        let mb = timeline_bytes(&r) >> 20;
        assert!(mb < 50, "{mb} MB");
        let t = r.timeline();
        assert_eq!(t.len(), 3_600);
        assert!((t[6].submit_p99_ms - 26.0).abs() < 0.3, "{:?}", t[6]);
    }
}

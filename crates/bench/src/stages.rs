//! Where submissions spent their time inside the gateway: its stage histograms
//! (`fengqiao_gateway_stage_seconds{method="SubmitDispute"}`), scraped from its
//! metrics endpoint before and after the load, and the difference.

use std::collections::BTreeMap;

use serde::Serialize;

/// The metric the gateway times its stages with.
const METRIC: &str = "fengqiao_gateway_stage_seconds";
/// The call the bench makes.
const METHOD: &str = "SubmitDispute";
/// The stages in the order a submission passes them (`hand_over` and `ownership` are parts of `work`).
const ORDER: &[&str] = &["authorize", "claim", "work", "hand_over", "ownership", "audit"];

/// One stage's histogram as scraped: cumulative counts by upper bound.
#[derive(Debug, Clone, Default, PartialEq)]
struct Histogram {
    count: f64,
    sum: f64,
    /// (upper bound in seconds, calls at or under it).
    buckets: Vec<(f64, f64)>,
}

impl Histogram {
    /// Calls at or under `bound` seconds (the bucket with that exact bound).
    fn at_most(&self, bound: f64) -> Option<f64> {
        self.buckets.iter().find(|(le, _)| (*le - bound).abs() < 1e-9).map(|(_, n)| *n)
    }
}

/// The gateway's stage histograms for submissions at one moment, by stage.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot(BTreeMap<String, Histogram>);

/// A stage's share of the submissions made during the load.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StageTime {
    /// `authorize`, `claim`, `work` (with its parts `hand_over` and `ownership`) or `audit`.
    pub stage: String,
    /// Submissions that passed it.
    pub calls: u64,
    /// Its mean time.
    pub mean_ms: f64,
    /// The share of those calls that spent over 50 ms in it.
    pub over_50_ms: f64,
    /// The share that spent over 100 ms in it.
    pub over_100_ms: f64,
}

/// The submissions' stage histograms in a Prometheus text exposition.
pub fn parse(text: &str) -> Snapshot {
    let mut stages: BTreeMap<String, Histogram> = BTreeMap::new();
    for (suffix, labels, value) in text.lines().filter_map(|l| crate::exposition::sample(l, METRIC)) {
        let (Some(&METHOD), Some(stage)) = (labels.get("method"), labels.get("stage")) else { continue };
        let h = stages.entry(stage.to_string()).or_default();
        match suffix {
            "_count" => h.count = value,
            "_sum" => h.sum = value,
            "_bucket" => {
                let bound = match labels.get("le") {
                    Some(&"+Inf") => f64::INFINITY,
                    Some(le) => le.parse().unwrap_or(f64::NAN),
                    None => continue,
                };
                h.buckets.push((bound, value));
            }
            _ => {}
        }
    }
    Snapshot(stages)
}

impl Snapshot {
    /// Each stage's figures for the submissions between this snapshot and `after`, in path order.
    pub fn until(&self, after: &Snapshot) -> Vec<StageTime> {
        let empty = Histogram::default();
        let mut stages: Vec<&String> = after.0.keys().collect();
        stages.sort_by_key(|s| ORDER.iter().position(|o| o == s).unwrap_or(ORDER.len()));
        stages
            .into_iter()
            .filter_map(|stage| {
                let (a, b) = (self.0.get(stage).unwrap_or(&empty), &after.0[stage]);
                let calls = b.count - a.count;
                if calls <= 0.0 {
                    return None;
                }
                let over = |bound: f64| {
                    let under = b.at_most(bound).unwrap_or(calls) - a.at_most(bound).unwrap_or(0.0);
                    ((calls - under) / calls).clamp(0.0, 1.0)
                };
                Some(StageTime {
                    stage: stage.clone(),
                    calls: calls as u64,
                    mean_ms: (b.sum - a.sum) / calls * 1000.0,
                    over_50_ms: over(0.05),
                    over_100_ms: over(0.1),
                })
            })
            .collect()
    }
}

/// The lines the report's table shows for `stages`.
pub fn table(stages: &[StageTime]) -> String {
    let mut t = format!(
        "\n{:<44}{:>10}{:>12}{:>12}{:>12}\n",
        "the gateway's time per submission, by stage", "calls", "mean ms", "> 50 ms", "> 100 ms"
    );
    for s in stages {
        let name = match s.stage.as_str() {
            "hand_over" | "ownership" => format!("  of which {}", s.stage),
            _ => s.stage.clone(),
        };
        t += &format!(
            "{name:<44}{:>10}{:>12.2}{:>11.2}%{:>11.2}%\n",
            s.calls,
            s.mean_ms,
            s.over_50_ms * 100.0,
            s.over_100_ms * 100.0
        );
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposition(claim_count: u32, claim_fast: u32, claim_sum: f64) -> String {
        format!(
            "# TYPE fengqiao_gateway_stage_seconds histogram\n\
             fengqiao_gateway_stage_seconds_bucket{{method=\"SubmitDispute\",stage=\"claim\",le=\"0.05\"}} {claim_fast}\n\
             fengqiao_gateway_stage_seconds_bucket{{method=\"SubmitDispute\",stage=\"claim\",le=\"0.1\"}} {claim_fast}\n\
             fengqiao_gateway_stage_seconds_bucket{{method=\"SubmitDispute\",stage=\"claim\",le=\"+Inf\"}} {claim_count}\n\
             fengqiao_gateway_stage_seconds_sum{{method=\"SubmitDispute\",stage=\"claim\"}} {claim_sum}\n\
             fengqiao_gateway_stage_seconds_count{{method=\"SubmitDispute\",stage=\"claim\"}} {claim_count}\n\
             fengqiao_gateway_stage_seconds_sum{{method=\"SubmitDispute\",stage=\"authorize\"}} 0.01\n\
             fengqiao_gateway_stage_seconds_count{{method=\"SubmitDispute\",stage=\"authorize\"}} {claim_count}\n\
             fengqiao_gateway_stage_seconds_count{{method=\"GetStatus\",stage=\"work\"}} 7\n\
             fengqiao_rpc_duration_seconds_count{{method=\"SubmitDispute\"}} 9\n"
        )
    }

    #[test]
    fn a_stage_is_measured_over_the_calls_made_between_two_scrapes() {
        let before = parse(&exposition(10, 10, 0.1));
        let after = parse(&exposition(110, 100, 2.1));
        let stages = before.until(&after);
        let names: Vec<&str> = stages.iter().map(|s| s.stage.as_str()).collect();
        assert_eq!(names, ["authorize", "claim"], "in path order, submissions only");
        let claim = &stages[1];
        assert_eq!(claim.calls, 100);
        assert!((claim.mean_ms - 20.0).abs() < 1e-9, "2 s over 100 calls: {}", claim.mean_ms);
        assert!((claim.over_50_ms - 0.1).abs() < 1e-9, "10 of 100 took over 50 ms: {}", claim.over_50_ms);
        assert!((claim.over_100_ms - 0.1).abs() < 1e-9);
        assert_eq!(stages[0].calls, 100);
        assert_eq!(stages[0].over_50_ms, 0.0, "no buckets: nothing counted as slow");
    }

    #[test]
    fn a_stage_without_calls_during_the_load_is_left_out() {
        let same = parse(&exposition(10, 10, 0.1));
        assert!(same.until(&same).is_empty());
        assert!(Snapshot::default().until(&Snapshot::default()).is_empty());
    }

    #[test]
    fn the_table_names_the_parts_of_the_work_under_it() {
        let s =
            |stage: &str| StageTime { stage: stage.into(), calls: 3, mean_ms: 1.5, over_50_ms: 0.5, over_100_ms: 0.0 };
        let t = table(&[s("work"), s("hand_over")]);
        assert!(t.contains("work ") && t.contains("  of which hand_over"), "{t}");
        assert!(t.contains("50.00%"), "{t}");
    }
}

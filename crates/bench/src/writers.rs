//! How long each SQLite file's one writing connection was held during the load
//! (standalone): `fengqiao_db_writer_held_seconds_sum` by component and holder,
//! read as the load starts and ends. A writer held nearly all the time is what
//! every write of its file queues for, so the report names standalone's bound.
//! A hold is not all work: it includes the holder's waits for a CPU between its
//! statements and the disk's sync of each commit (docs/performance.md,
//! forty-third round).

use std::collections::BTreeMap;

use serde::Serialize;

/// The metric each file's writer is timed by.
const METRIC: &str = "fengqiao_db_writer_held_seconds";
/// Holders shown on a component's row, the largest first.
const HOLDERS_SHOWN: usize = 3;
/// The table leaves out writers and holders held less than this share of the load (the JSON keeps them).
const SHOWN_FROM: f64 = 0.005;

/// The seconds each (component, holder) held its file's writer, summed since the process started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot(BTreeMap<(String, String), f64>);

/// One holder's share of the load's time.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HolderShare {
    /// The work that held the writer (`calls`, `audit`, a consumer such as `gateway-status`, …).
    pub holder: String,
    /// The share of the load's time it held the writer (0–1).
    pub share: f64,
}

/// A component's writer over the load.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WriterHeld {
    /// The component whose SQLite file it writes.
    pub component: String,
    /// The share of the load's time the writer was held (0–1; near 1 its file's writes queue).
    pub share: f64,
    /// Who held it, the largest share first.
    pub holders: Vec<HolderShare>,
}

/// The writers' held seconds in a Prometheus text exposition.
pub fn parse(text: &str) -> Snapshot {
    let sums = text.lines().filter_map(|l| crate::exposition::sample(l, METRIC)).filter_map(|(suffix, labels, v)| {
        let key = (labels.get("component")?.to_string(), labels.get("holder")?.to_string());
        (suffix == "_sum").then_some((key, v))
    });
    Snapshot(sums.collect())
}

impl Snapshot {
    /// Each component's writer over the `secs` between this snapshot and `after`, the most held
    /// first; writers not held in that time are left out, so PostgreSQL (no such metric) gives none.
    pub fn until(&self, after: &Snapshot, secs: f64) -> Vec<WriterHeld> {
        let mut by_component: BTreeMap<&str, Vec<HolderShare>> = BTreeMap::new();
        for ((component, holder), sum) in &after.0 {
            let held = sum - self.0.get(&(component.clone(), holder.clone())).unwrap_or(&0.0);
            if held > 0.0 && secs > 0.0 {
                let share = HolderShare { holder: holder.clone(), share: held / secs };
                by_component.entry(component).or_default().push(share);
            }
        }
        let by_share = |a: &f64, b: &f64| b.total_cmp(a);
        let mut writers: Vec<WriterHeld> = by_component
            .into_iter()
            .map(|(component, mut holders)| {
                holders.sort_by(|a, b| by_share(&a.share, &b.share));
                let share = holders.iter().map(|h| h.share).sum();
                WriterHeld { component: component.to_string(), share, holders }
            })
            .collect();
        writers.sort_by(|a, b| by_share(&a.share, &b.share));
        writers
    }
}

/// The lines the report's table shows for `writers`.
pub fn table(writers: &[WriterHeld]) -> String {
    let mut t = format!("\n{:<28}{:>8}   {}\n", "SQLite writer held (load)", "share", "by whom, the largest");
    for w in writers.iter().filter(|w| w.share >= SHOWN_FROM) {
        let holders: Vec<String> = w
            .holders
            .iter()
            .filter(|h| h.share >= SHOWN_FROM)
            .take(HOLDERS_SHOWN)
            .map(|h| format!("{} {:.0} %", h.holder, h.share * 100.0))
            .collect();
        t += &format!("{:<28}{:>6.0} %   {}\n", w.component, w.share * 100.0, holders.join(", "));
    }
    t += "  a hold includes the holder's waits for a CPU and each commit's sync, not only SQLite's work\n";
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposition(gateway_calls: f64, gateway_status: f64, intake: f64) -> String {
        format!(
            "# TYPE fengqiao_db_writer_held_seconds histogram\n\
             fengqiao_db_writer_held_seconds_sum{{component=\"gateway\",holder=\"calls\"}} {gateway_calls}\n\
             fengqiao_db_writer_held_seconds_count{{component=\"gateway\",holder=\"calls\"}} 900\n\
             fengqiao_db_writer_held_seconds_sum{{component=\"gateway\",holder=\"gateway-status\"}} {gateway_status}\n\
             fengqiao_db_writer_held_seconds_sum{{component=\"intake\",holder=\"calls\"}} {intake}\n\
             fengqiao_db_writer_held_seconds_sum{{component=\"console\",holder=\"calls\"}} 0.5\n\
             fengqiao_gateway_stage_seconds_sum{{method=\"SubmitDispute\",stage=\"claim\"}} 3\n"
        )
    }

    #[test]
    fn a_writer_is_held_for_its_holders_seconds_between_two_scrapes_over_the_load() {
        let before = parse(&exposition(1.0, 2.0, 0.5));
        let after = parse(&exposition(3.0, 7.0, 5.5));
        let writers = before.until(&after, 10.0);
        let names: Vec<&str> = writers.iter().map(|w| w.component.as_str()).collect();
        assert_eq!(
            names,
            ["gateway", "intake"],
            "the most held first (70 %, 50 %); the console was not held during the load"
        );
        let gateway = &writers[0];
        assert!((gateway.share - 0.7).abs() < 1e-9, "2 s + 5 s over 10 s: {}", gateway.share);
        let holders: Vec<(&str, f64)> = gateway.holders.iter().map(|h| (h.holder.as_str(), h.share)).collect();
        assert_eq!(holders.len(), 2);
        assert_eq!(holders[0].0, "gateway-status", "the largest holder first: {holders:?}");
        assert!((holders[0].1 - 0.5).abs() < 1e-9 && (holders[1].1 - 0.2).abs() < 1e-9, "{holders:?}");
        assert!((writers[1].share - 0.5).abs() < 1e-9, "intake: 5 s over 10 s");
    }

    #[test]
    fn a_process_without_sqlite_writers_gives_none() {
        let postgres = parse("fengqiao_gateway_stage_seconds_sum{method=\"SubmitDispute\",stage=\"claim\"} 3\n");
        assert!(postgres.until(&postgres, 10.0).is_empty());
        let same = parse(&exposition(1.0, 2.0, 0.5));
        assert!(same.until(&same, 10.0).is_empty(), "nothing held during the load");
    }

    #[test]
    fn the_table_gives_each_writer_a_row_with_its_largest_holders() {
        let h = |holder: &str, share: f64| HolderShare { holder: holder.into(), share };
        let holders =
            vec![h("gateway-status", 0.55), h("audit", 0.2), h("idempotency_claim", 0.15), h("retention", 0.01)];
        let idle = WriterHeld { component: "console".into(), share: 0.001, holders: vec![h("calls", 0.001)] };
        let routing = vec![h("routing-cases", 0.53), h("org_load", 0.002)];
        let routing = WriterHeld { component: "routing".into(), share: 0.532, holders: routing };
        let writers = [WriterHeld { component: "gateway".into(), share: 0.91, holders }, routing, idle];
        let t = table(&writers);
        let row = t.lines().find(|l| l.starts_with("gateway")).expect("a gateway row");
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells[..3], ["gateway", "91", "%"], "{t}");
        assert!(row.ends_with("gateway-status 55 %, audit 20 %, idempotency_claim 15 %"), "the largest three: {t}");
        assert!(!t.contains("console"), "a writer held under half a per cent gets no row: {t}");
        assert!(t.lines().any(|l| l.starts_with("routing") && l.ends_with("routing-cases 53 %")), "nor a holder: {t}");
    }
}

//! Where events waited as the load ended: the rows each component's outbox had
//! not yet published (`fengqiao_outbox_backlog`) and the events the bus held
//! for each consumer, not yet acknowledged (`fengqiao_consumer_pending`), as the
//! process last read them (it reads these gauges every [`SAMPLE_EVERY`]). A referral that
//! reached its inbox late waited in one of these queues; in standalone a relay
//! marks its events sent only once every consumer of them has acknowledged
//! them, so a growing outbox names the slowest of its consumers too
//! (docs/performance.md, forty-fourth round).

use std::collections::BTreeMap;

use fengqiao_platform::metrics::SAMPLE_EVERY;
use serde::Serialize;

/// Unpublished outbox rows, by component.
const OUTBOX: &str = "fengqiao_outbox_backlog";
/// Events the bus held for a consumer, not yet acknowledged, by consumer.
const CONSUMER: &str = "fengqiao_consumer_pending";
/// Queues of each kind the table shows, the longest first.
const SHOWN: usize = 3;

/// One queue's length.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Waiting {
    /// The component (an outbox) or the consumer group.
    pub name: String,
    /// Events in it.
    pub events: u64,
}

/// The queues as the load ended, each kind the longest first.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Backlog {
    /// Rows each component's outbox had not yet published.
    pub outboxes: Vec<Waiting>,
    /// Events the bus held for each consumer, not yet acknowledged by it.
    pub consumers: Vec<Waiting>,
}

/// The queues in a Prometheus text exposition.
pub fn parse(text: &str) -> Backlog {
    Backlog { outboxes: gauge(text, OUTBOX, "component"), consumers: gauge(text, CONSUMER, "consumer") }
}

/// The values of the gauge `metric` by its label `by`, the largest first.
fn gauge(text: &str, metric: &str, by: &str) -> Vec<Waiting> {
    let mut by_name: BTreeMap<String, u64> = BTreeMap::new();
    for (suffix, labels, value) in text.lines().filter_map(|l| crate::exposition::sample(l, metric)) {
        if let (true, Some(name)) = (suffix.is_empty(), labels.get(by)) {
            by_name.insert(name.to_string(), value.max(0.0) as u64);
        }
    }
    let mut waiting: Vec<Waiting> = by_name.into_iter().map(|(name, events)| Waiting { name, events }).collect();
    waiting.sort_by_key(|w| std::cmp::Reverse(w.events));
    waiting
}

/// The lines the report's table shows for `backlog`.
pub fn table(backlog: &Backlog) -> String {
    let header = format!("waiting as the load ended (last {}-s reading)", SAMPLE_EVERY.as_secs());
    let mut t = format!("\n{header:<44}{:>10}\n", "events");
    let rows = |queues: &[Waiting], what: &str| -> Vec<String> {
        let waiting = queues.iter().filter(|w| w.events > 0).take(SHOWN);
        waiting.map(|w| format!("{:<44}{:>10}\n", format!("{what} {}", w.name), w.events)).collect()
    };
    let lines = [rows(&backlog.outboxes, "outbox of"), rows(&backlog.consumers, "consumer")].concat();
    if lines.is_empty() {
        return t + "  nothing: every outbox published and every consumer caught up\n";
    }
    t += &lines.concat();
    t += "  an outbox's rows count as sent once the bus holds them; in standalone, once every consumer has\n";
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPOSITION: &str = "# TYPE fengqiao_outbox_backlog gauge\n\
        fengqiao_outbox_backlog{component=\"intake\"} 329\n\
        fengqiao_outbox_backlog{component=\"routing\"} 39698\n\
        fengqiao_outbox_backlog{component=\"console\"} 0\n\
        fengqiao_outbox_backlog_seconds{component=\"court-linkage\"} 12\n\
        fengqiao_consumer_pending{consumer=\"gateway-status\"} 597\n\
        fengqiao_consumer_pending{consumer=\"routing-cases\"} 306\n\
        fengqiao_consumer_pending{consumer=\"mediation-referrals\"} 0\n\
        fengqiao_consumer_pending{component=\"nobody\"} 7\n\
        fengqiao_outbox_published_total{component=\"routing\"} 120000\n";

    fn names(queues: &[Waiting]) -> Vec<(&str, u64)> {
        queues.iter().map(|w| (w.name.as_str(), w.events)).collect()
    }

    #[test]
    fn the_backlog_is_each_outbox_and_consumer_gauge_the_longest_first() {
        let backlog = parse(EXPOSITION);
        assert_eq!(names(&backlog.outboxes), [("routing", 39698), ("intake", 329), ("console", 0)]);
        assert_eq!(
            names(&backlog.consumers),
            [("gateway-status", 597), ("routing-cases", 306), ("mediation-referrals", 0)],
            "a sample without the consumer label is not a consumer's"
        );
    }

    #[test]
    fn a_process_without_the_gauges_has_no_backlog() {
        let backlog = parse("fengqiao_outbox_published_total{component=\"routing\"} 5\n");
        assert_eq!(backlog, Backlog::default());
        assert!(table(&backlog).contains("nothing: every outbox published"), "{}", table(&backlog));
    }

    #[test]
    fn the_table_names_the_longest_queues_and_leaves_out_the_empty() {
        let t = table(&parse(EXPOSITION));
        let row = |name: &str| t.lines().find(|l| l.starts_with(name)).map(|l| l.split_whitespace().last());
        assert_eq!(row("outbox of routing"), Some(Some("39698")), "{t}");
        assert_eq!(row("consumer gateway-status"), Some(Some("597")), "{t}");
        assert!(t.find("outbox of routing") < t.find("outbox of intake"), "the longest first: {t}");
        assert!(!t.contains("console") && !t.contains("mediation-referrals"), "an empty queue gets no row: {t}");
        assert!(!t.contains("nothing:"), "{t}");
    }

    #[test]
    fn the_table_shows_at_most_three_queues_of_each_kind() {
        let waiting = |n: u64| Waiting { name: format!("c{n}"), events: n };
        let backlog = Backlog { outboxes: (1..=5).rev().map(waiting).collect(), consumers: Vec::new() };
        let t = table(&backlog);
        let shown: Vec<&str> = t.lines().filter(|l| l.starts_with("outbox of")).collect();
        assert_eq!(shown.len(), 3, "{t}");
        assert!(shown[0].starts_with("outbox of c5") && !t.contains("outbox of c2 "), "{t}");
    }
}

//! The report of a run: a table on the terminal, a JSON file, and the chart
//! beside it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::backlog::Backlog;
use crate::ceilings::Ceilings;
use crate::cpu::CpuUse;
use crate::database::{AnalysisPass, DatabaseUse};
use crate::engines::Engines;
use crate::load::Shape;
use crate::profile::Profile;
use crate::record::{LateArrivals, Percentiles, QuietSeconds, Second};
use crate::stages::StageTime;
use crate::writers::WriterHeld;

/// The machine the run was on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub os: String,
    pub host: String,
}

impl Machine {
    /// This machine.
    pub fn this() -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_string();
        Self {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            host,
        }
    }
}

/// The load's throughput as a share of each ceiling.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Ratios {
    pub to_database_commits: f64,
    pub to_nats_acked_publishes: Option<f64>,
    pub to_grpc_calls: f64,
}

/// A run's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// When it started (RFC 3339).
    pub started_at: String,
    pub machine: Machine,
    /// The database and the broker the run measured, by their versions.
    pub engines: Engines,
    /// `standalone` or `distributed`.
    pub mode: String,
    pub shape: Shape,
    pub agencies: usize,
    pub duration_secs: f64,
    /// Submissions answered, by code (`OK`, `UNAVAILABLE`, …).
    pub outcomes: BTreeMap<String, u64>,
    /// Submissions answered OK per second of the load.
    pub submit_throughput: f64,
    pub submit_latency: Percentiles,
    /// The submit latency apart from the bench's analyses: over the seconds no pass that analysed
    /// a table touched (`None` where none did). The target is judged on `submit_latency`; this
    /// shows how much of it the analyses make.
    pub quiet_seconds: Option<QuietSeconds>,
    /// Referrals that reached an organisation's inbox during the load, per second of it. Those
    /// that arrived after it ended are in `late_arrivals`, not here: a rate that kept pace with
    /// the submissions only by catching up afterwards is not a sustained one.
    pub inbox_throughput: f64,
    /// From submit to the referral in an organisation's inbox (every arrival, late ones too).
    pub inbox_latency: Percentiles,
    /// The referrals that reached an inbox only after the load ended (`None`: none did).
    pub late_arrivals: Option<LateArrivals>,
    /// Submitted OK but not seen in an inbox when the run ended.
    pub not_arrived: u64,
    pub ceilings: Option<Ceilings>,
    pub ratios: Option<Ratios>,
    pub timeline: Vec<Second>,
    /// Where the machine's CPU went during the load (Linux only).
    pub cpu: Option<CpuUse>,
    /// PostgreSQL's WAL and checkpoints during the load (distributed mode only).
    pub database: Option<DatabaseUse>,
    /// Where submissions spent their time in the gateway (with `--gateway-metrics`).
    pub gateway_stages: Option<Vec<StageTime>>,
    /// How long each SQLite file's writer was held during the load, the most held first
    /// (standalone, with `--gateway-metrics`; `None` on PostgreSQL).
    pub sqlite_writers: Option<Vec<WriterHeld>>,
    /// The events waiting in outboxes and consumers as the load ended, as the process last read
    /// them (with `--gateway-metrics`; in distributed mode the gateway's process only).
    pub backlog_at_end: Option<Backlog>,
    /// Every CPU's samples during the load, with the files beside the report (with `--profile`).
    pub profile: Option<Profile>,
    /// The bench's analyses during the load, standing in for the server's autovacuum where it is off.
    pub analyses: Vec<AnalysisPass>,
}

impl Report {
    /// The ratios of this run's throughput to `ceilings`.
    pub fn ratios(throughput: f64, c: &Ceilings) -> Ratios {
        let of = |ceiling: f64| if ceiling > 0.0 { throughput / ceiling } else { 0.0 };
        Ratios {
            to_database_commits: of(c.database_commits),
            to_nats_acked_publishes: c.nats_acked_publishes.map(of),
            to_grpc_calls: of(c.grpc_calls),
        }
    }

    /// The table printed at the end of a run.
    pub fn table(&self) -> String {
        let shape = match self.shape {
            Shape::Open { rate } => format!("open loop at {rate}/s"),
            Shape::Closed { concurrency } => format!("closed loop, {concurrency} at once"),
        };
        let mut t = format!(
            "fengqiao bench — {} mode, {shape}, {} agencies, {:.0} s, {} CPUs; {}\n\n",
            self.mode,
            self.agencies,
            self.duration_secs,
            self.machine.cpus,
            self.engines.line()
        );
        t += &format!(
            "{:<28}{:>12}{:>10}{:>10}{:>10}{:>10}{:>10}\n",
            "", "per second", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"
        );
        let quiet = self.quiet_seconds.as_ref().map(|q| {
            let rate = q.submit_latency.count as f64 / q.seconds.max(1) as f64;
            (format!("  apart from analyses, {} s", q.seconds), rate, &q.submit_latency)
        });
        let rows = [
            Some(("submit (answered OK)".to_string(), self.submit_throughput, &self.submit_latency)),
            quiet,
            Some(("submit → inbox".to_string(), self.inbox_throughput, &self.inbox_latency)),
        ];
        for (name, rate, p) in rows.into_iter().flatten() {
            t += &format!(
                "{name:<28}{rate:>12.1}{:>10.2}{:>10.2}{:>10.2}{:>10.2}{:>10.2}\n",
                p.p50, p.p90, p.p99, p.p999, p.max
            );
        }
        let outcomes: Vec<String> = self.outcomes.iter().map(|(c, n)| format!("{c} {n}")).collect();
        t += &format!("\noutcomes: {}; not in an inbox at the end: {}\n", outcomes.join(", "), self.not_arrived);
        if let Some(late) = &self.late_arrivals {
            t += &format!(
                "in an inbox only after the load ended: {}, the last {:.1} s after it (not in the submit → inbox rate)\n",
                late.count, late.last_secs
            );
        }
        if let (Some(c), Some(r)) = (&self.ceilings, &self.ratios) {
            t += &format!(
                "\n{:<44}{:>14}{:>24}\n",
                "ceiling (same machine, same run)", "per second", "throughput / ceiling"
            );
            t += &format!(
                "{:<44}{:>14.0}{:>24.3}\n",
                "database commits (2-insert transaction)", c.database_commits, r.to_database_commits
            );
            if let (Some(n), Some(rn)) = (c.nats_acked_publishes, r.to_nats_acked_publishes) {
                t += &format!("{:<44}{n:>14.0}{rn:>24.3}\n", "NATS JetStream acknowledged publishes");
            }
            t += &format!(
                "{:<44}{:>14.0}{:>24.3}\n",
                "bare tonic unary calls (loopback)", c.grpc_calls, r.to_grpc_calls
            );
        }
        if let Some(cpu) = &self.cpu {
            t += &cpu.table(self.machine.cpus, matches!(self.shape, Shape::Open { .. }));
        }
        if let Some(profile) = &self.profile {
            t += &crate::profile::table(profile);
        }
        if let Some(database) = &self.database {
            t += &database.line();
        }
        if let Some(stages) = &self.gateway_stages {
            t += &crate::stages::table(stages);
        }
        if let Some(writers) = &self.sqlite_writers {
            t += &crate::writers::table(writers);
        }
        if let Some(backlog) = &self.backlog_at_end {
            t += &crate::backlog::table(backlog);
        }
        t
    }

    /// Writes `<dir>/<name>.json` and `<dir>/<name>.svg`; returns their paths.
    pub fn write(&self, dir: &Path, name: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
        std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        let json = dir.join(format!("{name}.json"));
        let svg = dir.join(format!("{name}.svg"));
        std::fs::write(&json, serde_json::to_vec_pretty(self)?)?;
        let title = format!("fengqiao bench, {} mode, {}, {}", self.mode, self.engines.line(), self.started_at);
        std::fs::write(&svg, crate::chart::svg(&title, &self.timeline, &self.analyses))?;
        Ok((json, svg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engines::Link;
    use crate::writers::HolderShare;

    fn report(ceilings: Option<Ceilings>) -> Report {
        let ratios = ceilings.as_ref().map(|c| Report::ratios(500.0, c));
        Report {
            started_at: "2026-12-01T00:00:00Z".into(),
            machine: Machine { cpus: 2, os: "linux x86_64".into(), host: "h".into() },
            engines: Engines {
                database: "PostgreSQL 15.20".into(),
                database_link: Some(Link::UnixSocket),
                nats: Some("2.9.25".into()),
            },
            mode: "distributed".into(),
            shape: Shape::Open { rate: 500 },
            agencies: 8,
            duration_secs: 60.0,
            outcomes: BTreeMap::from([("OK".to_string(), 30_000)]),
            submit_throughput: 500.0,
            submit_latency: Percentiles::default(),
            quiet_seconds: None,
            inbox_throughput: 500.0,
            inbox_latency: Percentiles::default(),
            late_arrivals: None,
            not_arrived: 0,
            ceilings,
            ratios,
            timeline: Vec::new(),
            cpu: None,
            database: None,
            gateway_stages: None,
            sqlite_writers: None,
            backlog_at_end: None,
            profile: None,
            analyses: Vec::new(),
        }
    }

    #[test]
    fn throughput_is_set_beside_each_ceiling_as_a_ratio() {
        let c = Ceilings { database_commits: 2000.0, nats_acked_publishes: Some(50_000.0), grpc_calls: 10_000.0 };
        let r = Report::ratios(500.0, &c);
        assert_eq!((r.to_database_commits, r.to_nats_acked_publishes, r.to_grpc_calls), (0.25, Some(0.01), 0.05));
        let table = report(Some(c)).table();
        assert!(table.contains("open loop at 500/s"), "{table}");
        let header = table.lines().next().unwrap_or_default();
        assert!(header.ends_with("2 CPUs; PostgreSQL 15.20 over a Unix socket, nats-server 2.9.25"), "{table}");
        assert!(table.lines().any(|l| l.starts_with("database commits") && l.trim_end().ends_with("0.250")), "{table}");
        assert!(table.contains("NATS JetStream acknowledged publishes"), "{table}");
        assert!(!report(None).table().contains("ceiling"), "no ceilings, no ceiling lines");
    }

    #[test]
    fn the_seconds_apart_from_analyses_get_a_row_under_the_submit_row() {
        let latency = Percentiles { p50: 20.0, p90: 30.0, p99: 45.5, p999: 60.0, max: 70.0, count: 25_000 };
        let quiet = QuietSeconds { seconds: 50, submit_latency: latency };
        let table = Report { quiet_seconds: Some(quiet), ..report(None) }.table();
        let lines: Vec<&str> = table.lines().collect();
        let submit = lines.iter().position(|l| l.starts_with("submit (answered OK)")).expect("a submit row");
        let row: Vec<&str> = lines[submit + 1].split_whitespace().collect();
        assert_eq!(row[..4], ["apart", "from", "analyses,", "50"], "{table}");
        assert_eq!(row[4..9], ["s", "500.0", "20.00", "30.00", "45.50"], "{table}");
        assert!(!report(None).table().contains("apart from"), "nothing analysed, no row");
    }

    #[test]
    fn referrals_delivered_only_after_the_load_are_told_under_the_outcomes() {
        let late = LateArrivals { count: 22_611, last_secs: 20.74 };
        let table = Report { late_arrivals: Some(late), ..report(None) }.table();
        let outcomes = table.lines().position(|l| l.starts_with("outcomes:")).expect("an outcomes line");
        assert_eq!(
            table.lines().nth(outcomes + 1),
            Some(
                "in an inbox only after the load ended: 22611, the last 20.7 s after it (not in the submit → inbox rate)"
            ),
            "{table}"
        );
        assert!(!report(None).table().contains("after the load"), "all delivered during the load, no line");
    }

    #[test]
    fn the_sqlite_writers_follow_the_gateways_stages() {
        let stage = StageTime { stage: "claim".into(), calls: 3, mean_ms: 1.5, over_50_ms: 0.0, over_100_ms: 0.0 };
        let holders = vec![HolderShare { holder: "case_registration".into(), share: 0.88 }];
        let intake = WriterHeld { component: "intake".into(), share: 0.88, holders };
        let table =
            Report { gateway_stages: Some(vec![stage]), sqlite_writers: Some(vec![intake]), ..report(None) }.table();
        let stages = table.find("the gateway's time per submission").expect("the stages");
        let writers = table.find("SQLite writer held").expect("the writers");
        assert!(stages < writers, "{table}");
        assert!(table.contains("case_registration 88 %"), "{table}");
        assert!(!report(None).table().contains("SQLite writer"), "no writers, no lines");
    }

    #[test]
    fn the_backlog_at_the_end_comes_last_and_only_where_the_metrics_were_read() {
        let routing = crate::backlog::Waiting { name: "routing".into(), events: 39_698 };
        let backlog = Backlog { outboxes: vec![routing], consumers: Vec::new() };
        let stage = StageTime { stage: "claim".into(), calls: 3, mean_ms: 1.5, over_50_ms: 0.0, over_100_ms: 0.0 };
        let table = Report { gateway_stages: Some(vec![stage]), backlog_at_end: Some(backlog), ..report(None) }.table();
        let stages = table.find("the gateway's time per submission").expect("the stages");
        let waiting = table.find("waiting as the load ended").expect("the backlog");
        assert!(stages < waiting && table.contains("outbox of routing"), "{table}");
        assert!(!report(None).table().contains("waiting as the load ended"), "metrics not read, no lines");
    }

    #[test]
    fn a_report_is_written_as_json_beside_its_chart() {
        let dir = std::env::temp_dir().join(format!("bench-report-{}", uuid::Uuid::new_v4()));
        let analysed = AnalysisPass { from_secs: 5.0, to_secs: 7.5, tables: 12 };
        let (json, svg) = Report { analyses: vec![analysed], ..report(None) }.write(&dir, "run").unwrap();
        let back: serde_json::Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
        assert_eq!(back["outcomes"]["OK"], 30_000);
        assert_eq!(back["shape"]["open"]["rate"], 500);
        assert_eq!(back["analyses"][0]["tables"], 12);
        assert_eq!(back["engines"]["nats"], "2.9.25");
        assert_eq!(back["engines"]["database_link"], "unix_socket");
        let svg = std::fs::read_to_string(svg).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains(crate::chart::ANALYSES_LEGEND), "{svg}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}

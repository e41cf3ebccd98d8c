//! `fengqiao bench`: drives a running fengqiao through its gateway as many
//! agency systems would, measures the machine's raw ceilings in the same run,
//! and reports throughput and latency as a table, a JSON file and a chart.

pub mod backlog;
pub mod ceilings;
pub mod chart;
pub mod cpu;
pub mod database;
pub mod engines;
pub mod exposition;
pub mod flame;
pub mod load;
pub mod profile;
pub mod record;
pub mod report;
pub mod seed;
pub mod stages;
pub mod writers;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fengqiao_platform::Settings;
use fengqiao_proto::fengqiao::gateway::v1::agency_service_client::AgencyServiceClient;
use indicatif::{ProgressBar, ProgressStyle};
use tokio_util::sync::CancellationToken;

use crate::database::DatabaseUse;
use crate::load::{AgencyClient, Run, Shape};
use crate::report::{Machine, Report};

/// What `fengqiao bench` runs.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Open loop: start this many submissions per second, whatever the answers (the default: 1000).
    #[arg(long, conflicts_with = "concurrency")]
    pub rate: Option<u32>,
    /// Closed loop: keep this many submissions in flight instead of a rate.
    #[arg(long)]
    pub concurrency: Option<u32>,
    /// Seconds of load.
    #[arg(long, default_value_t = 60)]
    pub duration: u64,
    /// Agency systems the load comes from (each its own connection and token).
    #[arg(long, default_value_t = 8)]
    pub agencies: usize,
    /// Seconds each ceiling is measured; 0 skips them.
    #[arg(long, default_value_t = 5.0)]
    pub ceiling_secs: f64,
    /// Where the JSON report and the chart go.
    #[arg(long, default_value = "bench-results")]
    pub out: PathBuf,
    /// Seconds to wait after the load for the last referrals to reach an inbox.
    #[arg(long, default_value_t = 15)]
    pub settle: u64,
    /// The gateway's metrics endpoint (`http://127.0.0.1:9460/metrics`; in standalone, the process's):
    /// with it, the report shows where submissions spent their time in the gateway, stage by stage,
    /// and in standalone how long each SQLite file's writer was held.
    #[arg(long)]
    pub gateway_metrics: Option<String>,
    /// Samples every CPU with Linux perf while the load runs, and writes the stacks and a flame
    /// graph beside the report (needs root or `kernel.perf_event_paranoid=-1`; perf itself costs a
    /// little CPU, so do not compare a profiled run's figures with others).
    #[arg(long)]
    pub profile: bool,
}

impl BenchArgs {
    fn shape(&self) -> Shape {
        match (self.rate, self.concurrency) {
            (_, Some(concurrency)) => Shape::Closed { concurrency },
            (rate, None) => Shape::Open { rate: rate.unwrap_or(1000) },
        }
    }
}

/// Registers `n` police agencies for this run (ids unique to it) and connects each to the gateway.
async fn agencies(settings: &Settings, label: &str, n: usize) -> anyhow::Result<Vec<AgencyClient>> {
    use fengqiao_gateway::{credentials, store, Gateway};
    use fengqiao_platform::component::{migrate, Component};
    let (db, _) = migrate(settings, Gateway::NAME, Gateway::MIGRATIONS).await?;
    let mut clients = Vec::with_capacity(n);
    for i in 0..n.max(1) {
        let agency_id = format!("bench-{label}-police-{i}");
        let agency = store::Agency {
            agency_id: agency_id.clone(),
            kind: "police".into(),
            name: format!("基准测试派出所 {i}"),
            division_code: "620802".into(),
        };
        // The writing connection goes back before issue_token takes it (on SQLite there is one).
        let mut conn = db.writer().acquire().await?;
        credentials::store::add_agency(&mut conn, &agency, fengqiao_platform::db::now_micros()).await?;
        drop(conn);
        let (_, token) = credentials::issue_token(&db, &agency_id, 1).await?;
        // Each agency system has its own connection, as separate systems would.
        let channel = settings.channel_to("gateway")?;
        clients.push(AgencyClient { agency_id, token, client: AgencyServiceClient::new(channel) });
    }
    Ok(clients)
}

/// The mode the report names: `one-process` when scripts/bench.sh says so (every component in one
/// process on PostgreSQL, which the settings alone cannot tell from distributed mode).
fn mode_of(uses_postgres: bool, said: Option<&str>) -> &'static str {
    match (uses_postgres, said) {
        (true, Some("one-process")) => "one-process",
        (true, _) => "distributed",
        (false, _) => "standalone",
    }
}

/// Runs the benchmark against the fengqiao `settings` describe; prints progress and the table, writes the files.
pub async fn run(settings: &Settings, args: &BenchArgs) -> anyhow::Result<Report> {
    let started = time::OffsetDateTime::now_utc();
    let label = format!("{}", started.unix_timestamp());
    let mode = mode_of(settings.uses_postgres(), std::env::var("FENGQIAO_BENCH_MODE").ok().as_deref());
    let ceilings = if args.ceiling_secs > 0.0 {
        eprintln!("measuring this machine's ceilings ({} s each) …", args.ceiling_secs);
        Some(ceilings::measure(settings, args.ceiling_secs).await?)
    } else {
        None
    };
    let engines = engines::of(settings).await?;
    let clients = agencies(settings, &label, args.agencies).await?;
    let run = Run::new(&label);
    let stop = CancellationToken::new();
    let watchers: Vec<_> = clients.iter().map(|c| tokio::spawn(run.clone().watch(c.clone(), stop.clone()))).collect();
    let shape = args.shape();
    let duration = Duration::from_secs(args.duration.max(1));
    let bar = progress(args.duration);
    let ticker = tokio::spawn(tick(run.clone(), bar.clone()));
    // PostgreSQL's own counters (WAL, checkpoints); SQLite has none, so standalone opens no connection.
    let engine = match settings.uses_postgres() {
        true => Some(fengqiao_platform::Database::connect(settings, "bench").await?),
        false => None,
    };
    let db_before = database::Sample::take_from(engine.as_ref()).await;
    // On a server without autovacuum, the bench analyses the tables as it would (see database.rs).
    let stop_analysing = CancellationToken::new();
    let analyser = match &engine {
        Some(db) if !database::autovacuum_runs(db).await => Some(tokio::spawn(database::analyse_while(
            db.clone(),
            run.start,
            database::ANALYSE_FIRST,
            database::ANALYSE_EVERY,
            stop_analysing.clone(),
        ))),
        _ => None,
    };
    let metrics_before = match &args.gateway_metrics {
        Some(url) => Some((exposition::fetch(url).await?, std::time::Instant::now())),
        None => None,
    };
    let name = format!("bench-{mode}-{label}");
    let recording = match args.profile {
        true => Some(
            profile::Recording::start("perf", &args.out.join(format!("{name}.perf.data")), duration.as_secs()).await?,
        ),
        false => None,
    };
    let cpu_before = cpu::Sample::take();
    run.drive(&clients, shape, duration).await;
    let cpu_after = cpu::Sample::take();
    let (gateway_stages, sqlite_writers, backlog_at_end) = match (&args.gateway_metrics, metrics_before) {
        (Some(url), Some((before, at))) => match exposition::fetch(url).await {
            Ok(after) => {
                let writers = writers::parse(&before).until(&writers::parse(&after), at.elapsed().as_secs_f64());
                let stages = stages::parse(&before).until(&stages::parse(&after));
                (Some(stages), Some(writers).filter(|w| !w.is_empty()), Some(backlog::parse(&after)))
            }
            Err(e) => {
                eprintln!("{e}; the report leaves the gateway's stages, the SQLite writers and the backlog out");
                (None, None, None)
            }
        },
        _ => (None, None, None),
    };
    stop_analysing.cancel();
    let analyses = match analyser {
        Some(task) => task.await.unwrap_or_default(),
        None => Vec::new(),
    };
    let db_after = database::Sample::take_from(engine.as_ref()).await;
    if let Some(engine) = engine {
        engine.close().await;
    }
    let load_secs = duration.as_secs_f64();
    // Wait for the last referrals to reach their inboxes.
    let settle_end = tokio::time::Instant::now() + Duration::from_secs(args.settle);
    while run.pending() > 0 && tokio::time::Instant::now() < settle_end {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ticker.abort();
    bar.finish_and_clear();
    stop.cancel();
    for w in watchers {
        let _ = w.await;
    }
    // Folded once the last referrals arrived: perf's reading takes CPU the settling should not lose.
    let profile = match recording {
        Some(recording) => {
            let group_of = |pid: u32| cpu_after.as_ref()?.group(pid).map(str::to_string);
            let title = format!("fengqiao bench, {mode} mode: every CPU during the load, {label}");
            match recording.finish(group_of, &name, &title).await {
                Ok(profile) => Some(profile),
                Err(e) => {
                    eprintln!("{e}; the report leaves the profile out");
                    None
                }
            }
        }
        None => None,
    };
    let recorder = run.recorder.lock().expect("lock");
    let analysed: Vec<(f64, f64)> =
        analyses.iter().filter(|p| p.analysed()).map(|p| (p.from_secs, p.to_secs)).collect();
    let submit_throughput = recorder.ok() as f64 / load_secs;
    let machine = Machine::this();
    let cpus = machine.cpus;
    let report = Report {
        started_at: started.format(&time::format_description::well_known::Rfc3339)?,
        machine,
        engines,
        mode: mode.into(),
        shape,
        agencies: clients.len(),
        duration_secs: load_secs,
        outcomes: recorder.codes(),
        submit_throughput,
        submit_latency: recorder.submit_latency(),
        quiet_seconds: recorder.quiet_seconds(&analysed),
        inbox_throughput: recorder.arrivals_during(duration) as f64 / load_secs,
        inbox_latency: recorder.inbox_latency(),
        late_arrivals: recorder.late_arrivals(duration),
        not_arrived: recorder.ok().saturating_sub(recorder.arrivals()),
        ratios: ceilings.as_ref().map(|c| Report::ratios(submit_throughput, c)),
        ceilings,
        timeline: recorder.timeline(),
        cpu: cpu_before.zip(cpu_after).map(|(before, after)| before.until(&after, recorder.ok(), cpus)),
        database: db_before.zip(db_after).map(|(before, after)| DatabaseUse {
            analysed_by_bench: u32::try_from(analyses.len()).unwrap_or(u32::MAX),
            tables_analysed_by_bench: analyses.iter().map(|p| p.tables).sum(),
            ..before.until(&after, recorder.ok())
        }),
        gateway_stages,
        sqlite_writers,
        backlog_at_end,
        profile,
        analyses,
    };
    drop(recorder);
    println!("{}", report.table());
    let (json, svg) = report.write(&args.out, &name)?;
    println!("report: {}\nchart:  {}", json.display(), svg.display());
    Ok(report)
}

fn progress(secs: u64) -> ProgressBar {
    let bar = ProgressBar::new(secs);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} s  {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar
}

/// Updates the progress bar each second with the last second's figures.
async fn tick(run: Arc<Run>, bar: ProgressBar) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    loop {
        every.tick().await;
        let elapsed = run.start.elapsed().as_secs();
        let last = run.recorder.lock().expect("lock").timeline().into_iter().rev().nth(1);
        if let Some(s) = last {
            bar.set_message(format!(
                "{} ok/s, {} errors/s, {} in inboxes/s, p99 {:.1} ms",
                s.ok, s.errors, s.inbox, s.submit_p99_ms
            ));
        }
        bar.set_position(elapsed.min(bar.length().unwrap_or(0)));
    }
}

#[cfg(test)]
mod tests {
    use super::mode_of;

    #[test]
    fn the_report_names_one_process_only_on_postgres_and_when_told() {
        assert_eq!(mode_of(true, Some("one-process")), "one-process");
        assert_eq!(mode_of(true, None), "distributed");
        assert_eq!(mode_of(true, Some("distributed")), "distributed");
        assert_eq!(mode_of(false, Some("one-process")), "standalone");
        assert_eq!(mode_of(false, None), "standalone");
    }
}

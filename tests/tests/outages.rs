//! A database outage as the operator on call reads it in the logs: each
//! background loop warns at its first failure and then once a minute while
//! the outage lasts — not at every pass, which for some loops is four times
//! a second — and says once that it works again when the database is back.

use std::time::{Duration, Instant};

use fengqiao_platform::testing;
use fengqiao_tests::proxy::{authority, Proxy};
use fengqiao_tests::system::{Mode, System};

/// The loops of each component that pass at least every second, as their
/// warnings name them.
const LOOPS: &[(&str, &[&str])] = &[
    (
        "routing",
        &[
            "acceptance timeout sweep failed",
            "due-clock sweep failed",
            "fold of organisations' load changes failed",
            "reading replay requests failed",
        ],
    ),
    (
        "gateway",
        &[
            "numbering new status changes failed",
            "reading the status log for streams failed",
            "looking for callbacks to deliver failed",
            "not hearing of credential changes",
        ],
    ),
];

/// How long the database stays out of reach: every loop above fails many times.
const OUTAGE: Duration = Duration::from_secs(8);

/// `line` without the terminal's colour codes (`ESC [ … m`).
fn without_colours(line: &str) -> String {
    let mut plain = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|&c| c == 'm');
        } else {
            plain.push(c);
        }
    }
    plain
}

fn lines_with(log: &str, text: &str) -> usize {
    log.lines().filter(|line| line.contains(text)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_outage_is_one_warning_per_loop_not_one_a_pass_and_its_end_is_told() {
    let (db_url, db_name) = testing::create_postgres_database().await.unwrap();
    let pg_addr = authority(&db_url);
    let pg = Proxy::start(pg_addr).await.unwrap();
    let mut system =
        System::start_with(Mode::Distributed, &[("FENGQIAO_DATABASE__URL", &pg.url(&db_url, pg_addr))]).await.unwrap();
    let logs: Vec<_> =
        LOOPS.iter().map(|(component, _)| system.dir().join(format!("{component}-replica.log"))).collect();
    for ((component, _), log) in LOOPS.iter().zip(&logs) {
        let file = std::fs::File::create(log).unwrap();
        system.add_replica_logging_to(component, &[("FENGQIAO_TELEMETRY__LOG_FILTER", "info")], file.into()).unwrap();
    }
    tokio::time::sleep(Duration::from_secs(3)).await;

    pg.sever();
    tokio::time::sleep(OUTAGE).await;
    let during: Vec<String> = logs.iter().map(|log| std::fs::read_to_string(log).unwrap()).collect();
    pg.restore();

    for ((component, loops), log) in LOOPS.iter().zip(&during) {
        // A loop warning at every pass would write 32 lines alone (every 250 ms).
        let warnings = lines_with(log, "WARN");
        assert!(
            warnings <= 20,
            "{component}: {warnings} warnings in an outage of {OUTAGE:?}, a flood; its log:\n{log}"
        );
        for warning in *loops {
            assert_eq!(
                lines_with(log, warning),
                1,
                "{component}: `{warning}` should be warned once in an outage of {OUTAGE:?}; its log:\n{log}"
            );
        }
        // Standalone mode runs every component in one process: each warning names its own.
        let named = format!("component={component}");
        for line in log.lines().filter(|line| line.contains("failed; retrying")) {
            let plain = without_colours(line);
            assert!(plain.contains(&named), "{component}: a warning without `{named}`: {plain}");
        }
    }
    // Back: each loop that failed says so once, with the attempts it made.
    let started = Instant::now();
    let (routing, gateway) = (&logs[0], &logs[1]);
    loop {
        let log = std::fs::read_to_string(routing).unwrap();
        let told = ["acceptance timeout sweep works again", "due-clock sweep works again"];
        let heard = lines_with(&std::fs::read_to_string(gateway).unwrap(), "credential listener works again");
        if told.iter().all(|text| lines_with(&log, text) == 1) && heard == 1 {
            let clock = log.lines().find(|line| line.contains("due-clock sweep works again")).unwrap().to_string();
            let attempts: u32 = clock
                .split("after ")
                .nth(1)
                .and_then(|rest| rest.split(' ').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("the attempts in `{clock}`"));
            assert!(attempts >= 8, "the clock sweep passes every 250 ms: {attempts} failed attempts in {OUTAGE:?}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "routing or the gateway's credential listener never said it works again:\n{log}\n{}",
            std::fs::read_to_string(gateway).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    system.finish().await;
    testing::drop_postgres_database(&db_name).await;
}

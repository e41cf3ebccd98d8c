//! Chaos: under steady load (police stations submitting, a village committee
//! mediating), random component processes are killed with SIGKILL at random
//! moments and restarted. Afterwards every submitted case has reached its
//! outcome, no step happened twice or came back on the agency's stream (a
//! retried delivery superseded by later ones shows nowhere), and the counts
//! reconcile by case id: submitted = registered = routed = concluded.
//!
//! The default suite runs 20 kills; the long run (issue #14 asks for 200+):
//!   FENGQIAO_CHAOS_KILLS=200 cargo nextest run --profile faults -p fengqiao-tests --test chaos
//! The report at the end (stdout) gives the figures docs/reliability.md records.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use fengqiao_tests::reconcile::{assert_steps_forward_and_concluded_once, reconcile};
use fengqiao_tests::scenario::{AgencySession, POLICE};
use fengqiao_tests::system::{Mode, System, COMPONENTS};
use fengqiao_tests::workload::Workload;

/// A small deterministic generator (xorshift64*), seeded and printed so a run can be repeated.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_kills_under_load_lose_nothing_and_repeat_nothing() {
    let kills: usize = std::env::var("FENGQIAO_CHAOS_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    println!("chaos: {kills} kills, seed {seed}");
    let mut dice = Dice(seed);
    // A killed consumer's unacknowledged events come back after 2 s, not 30.
    let mut system = System::start_with(
        Mode::Distributed,
        &[("FENGQIAO_BUS__ACK_WAIT_SECS", "2"), ("FENGQIAO_BUS__RETRY_BACKOFF_MAX_MS", "1000")],
    )
    .await
    .unwrap();
    let started = Instant::now();
    let mut workload = Workload::start(&system, &format!("CHAOS-{seed}"), 2).await;

    let mut killed: BTreeMap<&str, usize> = BTreeMap::new();
    for _ in 0..kills {
        tokio::time::sleep(Duration::from_millis(300 + dice.below(900))).await;
        let victim = COMPONENTS[dice.below(COMPONENTS.len() as u64) as usize];
        system.kill(victim);
        *killed.entry(victim).or_default() += 1;
        tokio::time::sleep(Duration::from_millis(dice.below(400))).await;
        let mut tries = 0;
        while let Err(e) = system.restart(victim) {
            tries += 1;
            assert!(tries < 5, "{victim} does not restart: {e}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let submitted = workload.stop_submitting().await;
    let cases: Vec<String> = submitted.values().cloned().collect();
    let distinct: BTreeSet<&String> = cases.iter().collect();
    assert_eq!(distinct.len(), cases.len(), "one case per reference");
    // The backlog left when the kills stop is worked off at some tens of cases a second.
    workload.finish(&system, &cases, Duration::from_secs(120 + cases.len() as u64 / 10)).await;

    let r = reconcile(&system.database_url().unwrap(), &cases).await;
    let police = AgencySession::connect(&system, POLICE).await;
    let changes = police.watch("", 7 * cases.len(), Duration::from_secs(30)).await;
    println!(
        "chaos report: {} s, kills {} ({killed:?}), cases submitted {}, registered {}, routed {}, concluded {}, \
         lost {}, duplicated {}, status changes streamed {}",
        started.elapsed().as_secs(),
        killed.values().sum::<usize>(),
        r.submitted,
        r.registered,
        r.routed,
        r.concluded,
        r.lost,
        r.duplicated,
        changes.len(),
    );
    assert!(!cases.is_empty(), "the load submitted cases");
    assert_eq!((r.lost, r.duplicated, r.unasked), (0, 0, 0), "{:#?}", r.details);
    assert_steps_forward_and_concluded_once(&changes, &cases);
    system.finish().await;
}

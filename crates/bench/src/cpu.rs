//! Where the machine's CPU went during the load: every process's CPU time
//! (Linux `/proc`) read when the load starts and when it ends, summed by what
//! the process is — PostgreSQL, NATS, each fengqiao component, the bench
//! itself — and set against the referrals carried. The target (1,000
//! referrals/s on 2 cores) needs under 2 ms of CPU per referral in all.

use std::collections::BTreeMap;

use serde::Serialize;

/// CPU time by process, read once.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Seconds of CPU (user + system) by process id, with the process's group.
    by_pid: BTreeMap<u32, (String, f64)>,
    /// The whole machine's CPU seconds so far (every CPU).
    machine: Machine,
    /// When it was read.
    at: std::time::Instant,
}

/// The whole machine's CPU seconds from `/proc/stat`, summed over its CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Machine {
    /// Busy: everything but idle, waiting for I/O and steal.
    pub busy: f64,
    /// Steal: time the hypervisor gave this virtual machine's CPUs to others.
    pub steal: f64,
}

/// The share of the CPUs busy from which a machine counts as full: its lanes, relays and
/// group commits then commit smaller batches with whatever CPU a change frees, so the CPU a
/// referral stays at the busy CPUs over the rate (thirty-fifth round of docs/performance.md).
/// The report's `full` says it; scripts/bench-compare.sh reads that.
const FULL: f64 = 0.95;

/// Where the CPU went between two samples.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CpuUse {
    /// Seconds between the samples.
    pub secs: f64,
    /// CPUs busy on average (the machine's whole load, every process).
    pub busy_cores: f64,
    /// CPUs' worth of time the hypervisor took for other machines (steal): a run with
    /// much of it ran on a slower machine than its neighbours without.
    pub steal_cores: f64,
    /// Milliseconds of busy CPU per referral answered OK.
    pub ms_per_referral: f64,
    /// Seconds of CPU by group (`postgres`, `nats-server`, `fengqiao gateway`, …), largest first.
    pub by_group: Vec<(String, f64)>,
    /// Whether the machine was full (`FULL` of its CPUs busy or more): then the CPU a referral
    /// is only the busy CPUs over the rate and cannot compare builds; the closed loop can.
    pub full: bool,
}

/// The group a process belongs to, from its command line (`other` for anything not fengqiao's or its engines').
/// `ours`: it runs the bench's own executable, whatever its file is called (`/tmp/fq-before`).
pub fn group_of(cmdline: &[&str], comm: &str, ours: bool) -> String {
    let program = cmdline.first().map(|p| p.rsplit('/').next().unwrap_or(p)).unwrap_or("");
    if ours || program.starts_with("fengqiao") {
        return match (cmdline.get(1).copied(), cmdline.get(2).copied()) {
            (Some("serve"), Some(component)) => format!("fengqiao {component}"),
            (Some("standalone"), _) => "fengqiao (standalone)".to_string(),
            (Some(command), _) if !command.starts_with('-') => format!("fengqiao {command}"),
            _ => "fengqiao (standalone)".to_string(),
        };
    }
    // PostgreSQL renames its processes ("postgres: 15/main: walwriter").
    if program.starts_with("postgres") || comm == "postgres" {
        return "postgres".into();
    }
    if program.starts_with("nats-server") {
        return "nats-server".into();
    }
    "other".into()
}

/// Whether the process at `proc_dir` (`/proc/<pid>`) runs the executable `exe`.
fn runs(proc_dir: &std::path::Path, exe: Option<&std::path::Path>) -> bool {
    exe.is_some() && std::fs::read_link(proc_dir.join("exe")).ok().as_deref() == exe
}

/// User + system seconds from a `/proc/<pid>/stat` line, and the command name.
pub fn parse_stat(line: &str, ticks_per_sec: f64) -> Option<(String, f64)> {
    // The command name is in parentheses and may hold spaces or parentheses itself.
    let open = line.find('(')?;
    let close = line.rfind(')')?;
    let comm = line.get(open + 1..close)?.to_string();
    let fields: Vec<&str> = line.get(close + 2..)?.split_whitespace().collect();
    // After the name: state is field 3 of the line; utime and stime are fields 14 and 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((comm, (utime + stime) / ticks_per_sec))
}

/// The whole machine's seconds from `/proc/stat`'s first line.
pub fn parse_machine(line: &str, ticks_per_sec: f64) -> Option<Machine> {
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let ticks: Vec<f64> = fields.map(|f| f.parse().unwrap_or(0.0)).collect();
    let field = |i: usize| ticks.get(i).copied().unwrap_or(0.0);
    let busy = field(0) + field(1) + field(2) + field(5) + field(6);
    Some(Machine { busy: busy / ticks_per_sec, steal: field(7) / ticks_per_sec })
}

impl Sample {
    /// Reads every process's CPU time now; `None` where there is no `/proc` (not Linux).
    pub fn take() -> Option<Self> {
        // The kernel counts in USER_HZ, 100 on every Linux architecture we ship for.
        const TICKS: f64 = 100.0;
        let machine = std::fs::read_to_string("/proc/stat").ok()?;
        let machine = parse_machine(machine.lines().next()?, TICKS)?;
        let own = std::env::current_exe().ok();
        let mut by_pid = BTreeMap::new();
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            // A process may end between listing and reading: skip it.
            let (Ok(stat), Ok(cmdline)) =
                (std::fs::read_to_string(entry.path().join("stat")), std::fs::read(entry.path().join("cmdline")))
            else {
                continue;
            };
            let Some((comm, secs)) = parse_stat(&stat, TICKS) else { continue };
            let cmdline = String::from_utf8_lossy(&cmdline);
            let args: Vec<&str> = cmdline.split('\0').filter(|a| !a.is_empty()).collect();
            let ours = runs(&entry.path(), own.as_deref());
            by_pid.insert(pid, (group_of(&args, &comm, ours), secs));
        }
        Some(Self { by_pid, machine, at: std::time::Instant::now() })
    }

    /// The group of process `pid` as it was read (`None`: it was not running then).
    pub fn group(&self, pid: u32) -> Option<&str> {
        self.by_pid.get(&pid).map(|(group, _)| group.as_str())
    }

    /// Where the CPU went from `self` to `later`, for `referrals` answered OK, on a machine of `cpus`.
    pub fn until(&self, later: &Sample, referrals: u64, cpus: usize) -> CpuUse {
        let secs = later.at.duration_since(self.at).as_secs_f64();
        let mut groups: BTreeMap<String, f64> = BTreeMap::new();
        for (pid, (group, secs)) in &later.by_pid {
            // A process started during the load counts from zero.
            let before = self.by_pid.get(pid).filter(|(g, _)| g == group).map_or(0.0, |(_, s)| *s);
            *groups.entry(group.clone()).or_default() += (secs - before).max(0.0);
        }
        let mut by_group: Vec<(String, f64)> = groups.into_iter().filter(|(_, s)| *s > 0.0).collect();
        by_group.sort_by(|a, b| b.1.total_cmp(&a.1));
        let busy = (later.machine.busy - self.machine.busy).max(0.0);
        let steal = (later.machine.steal - self.machine.steal).max(0.0);
        let per_sec = |s: f64| if secs > 0.0 { s / secs } else { 0.0 };
        CpuUse {
            secs,
            full: per_sec(busy) >= FULL * cpus as f64,
            busy_cores: per_sec(busy),
            steal_cores: per_sec(steal),
            ms_per_referral: if referrals > 0 { busy * 1000.0 / referrals as f64 } else { 0.0 },
            by_group,
        }
    }
}

impl CpuUse {
    /// The lines of the report's table; `open`: the load came at a set rate (where the CPU a
    /// referral is the figure one might compare builds by, and on a full machine cannot be).
    pub fn table(&self, cpus: usize, open: bool) -> String {
        let mut t = format!(
            "\nCPU during the load: {:.2} of {cpus} CPUs busy, {:.2} ms per referral (whole machine); \
             {:.2} CPUs taken by the hypervisor (steal)\n",
            self.busy_cores, self.ms_per_referral, self.steal_cores
        );
        if self.full && open {
            t += "  the machine was full: here the CPU a referral is only the busy CPUs over the rate (what one \
                  part saves, the others spend committing smaller batches); compare builds by the closed loop's \
                  throughput (--concurrency)\n";
        }
        let total: f64 = self.by_group.iter().map(|(_, s)| s).sum();
        for (group, secs) in &self.by_group {
            let share = if total > 0.0 { secs * 100.0 / total } else { 0.0 };
            t += &format!("  {group:<42}{secs:>10.1} CPU-s{share:>10.1} %\n");
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sample `secs` after a common start: the machine's busy and steal seconds, and processes.
    fn sample(at: std::time::Instant, busy: f64, steal: f64, pids: &[(u32, &str, f64)], secs: u64) -> Sample {
        Sample {
            by_pid: pids.iter().map(|(p, g, s)| (*p, (g.to_string(), *s))).collect(),
            machine: Machine { busy, steal },
            at: at + std::time::Duration::from_secs(secs),
        }
    }

    #[test]
    fn a_full_machine_is_said_to_be_full_where_the_cpu_a_referral_cannot_compare_builds() {
        let at = std::time::Instant::now();
        let before = sample(at, 100.0, 0.0, &[(1, "postgres", 10.0)], 0);
        // 60 s with 1.97 and with 1.52 CPUs busy.
        let (busy, quiet) = (sample(at, 218.2, 0.0, &[], 60), sample(at, 191.2, 0.0, &[], 60));
        let full = before.until(&busy, 30_000, 2);
        assert!(full.full);
        assert!(full.table(2, true).contains("the machine was full"), "{}", full.table(2, true));
        // The closed loop is always full, and compares builds by its throughput already.
        assert!(!full.table(2, false).contains("the machine was full"));
        // In the report's JSON, which scripts/bench-compare.sh reads.
        assert_eq!(serde_json::to_value(&full).unwrap()["full"], true);
        let not_full = before.until(&quiet, 30_000, 2);
        assert!(!not_full.full);
        assert!(!not_full.table(2, true).contains("the machine was full"), "{}", not_full.table(2, true));
        assert!(!before.until(&busy, 30_000, 4).full);
    }

    #[test]
    fn processes_are_grouped_by_what_they_run() {
        assert_eq!(group_of(&["/usr/bin/fengqiao", "serve", "gateway"], "fengqiao", false), "fengqiao gateway");
        assert_eq!(
            group_of(&["/tmp/fengqiao-before", "bench", "--rate", "5"], "fengqiao-before", false),
            "fengqiao bench"
        );
        assert_eq!(group_of(&["./target/release/fengqiao"], "fengqiao", false), "fengqiao (standalone)");
        assert_eq!(group_of(&["/usr/bin/fengqiao", "standalone"], "fengqiao", false), "fengqiao (standalone)");
        assert_eq!(group_of(&["postgres: 15/main: walwriter"], "postgres", false), "postgres");
        assert_eq!(group_of(&["/usr/sbin/nats-server", "-js"], "nats-server", false), "nats-server");
        assert_eq!(group_of(&[], "kworker/0:1", false), "other");
        assert_eq!(group_of(&["/tmp/fq-a", "serve", "routing"], "fq-a", false), "other");
    }

    #[test]
    fn a_copy_of_the_bench_binary_under_another_name_is_still_fengqiao() {
        assert_eq!(group_of(&["/tmp/fq-a", "serve", "routing"], "fq-a", true), "fengqiao routing");
        assert_eq!(group_of(&["/tmp/fq-a", "standalone"], "fq-a", true), "fengqiao (standalone)");
        // Read from /proc: this test's own process runs this executable, init does not.
        let own = std::env::current_exe().unwrap();
        assert!(runs(std::path::Path::new(&format!("/proc/{}", std::process::id())), Some(&own)));
        assert!(!runs(std::path::Path::new("/proc/1"), Some(&own)));
        assert!(!runs(std::path::Path::new("/proc/self"), None));
    }

    #[test]
    fn a_stat_line_gives_user_and_system_time_even_with_spaces_in_the_name() {
        let line = "4242 (tokio rt (w)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 100 0 0";
        assert_eq!(parse_stat(line, 100.0), Some(("tokio rt (w)".to_string(), 3.0)));
        assert_eq!(parse_stat("garbage", 100.0), None);
        // user nice system idle iowait irq softirq steal
        assert_eq!(parse_machine("cpu  100 0 50 800 50 0 0 25 0 0", 100.0), Some(Machine { busy: 1.5, steal: 0.25 }));
        assert_eq!(parse_machine("cpu0 1 2 3", 100.0), None);
    }

    #[test]
    fn cpu_is_counted_from_the_first_sample_and_per_referral() {
        let at = std::time::Instant::now();
        let before = sample(at, 100.0, 3.0, &[(1, "postgres", 10.0), (2, "fengqiao gateway", 5.0)], 0);
        // pid 3 started during the load; pid 2 ended (its time since the first sample is lost).
        let after =
            sample(at, 120.0, 4.0, &[(1, "postgres", 18.0), (3, "fengqiao gateway", 2.0), (4, "other", 0.0)], 10);
        let used = before.until(&after, 1_000, 2);
        assert_eq!(used.secs, 10.0);
        assert_eq!(used.busy_cores, 2.0);
        assert_eq!(used.steal_cores, 0.1);
        assert_eq!(used.ms_per_referral, 20.0);
        assert_eq!(used.by_group, vec![("postgres".to_string(), 8.0), ("fengqiao gateway".to_string(), 2.0)]);
        assert!(used.table(2, true).contains("20.00 ms per referral"), "{}", used.table(2, true));
    }
}

//! The whole machine's CPU profile during the load (`fengqiao bench --profile`): Linux
//! `perf` samples every CPU (`perf record --all-cpus -g`) for as long as the load runs.
//! Each sample's stack is folded under the process it ran in, grouped as the CPU table
//! groups processes (postgres, nats-server, each fengqiao component), then its thread.
//! Beside the report go the recording (for `perf report -i`), the folded stacks (the
//! input of any flame graph tool) and a flame graph; the report names the functions
//! the CPUs were found in most.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

/// Samples a second on each CPU: off the round rates of timers, so sampling does not fall
/// into step with periodic work.
pub const HZ: u32 = 499;
/// The root frame of samples in which a CPU had nothing to run (process 0).
pub const IDLE: &str = "(idle)";
/// Functions the report's table names.
const SHOWN: usize = 12;

/// A run's profile, as the report gives it.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    /// Samples taken, on every CPU together (`HZ` a second each).
    pub samples: u64,
    /// perf's own recording, for `perf report -i`.
    pub recording: PathBuf,
    /// The folded stacks: a line per stack, `process;thread;caller;…;callee samples`.
    pub folded: PathBuf,
    /// The flame graph (SVG).
    pub flamegraph: PathBuf,
    /// The functions the CPUs were found running most (the top of the stack), most first.
    pub hottest: Vec<Hot>,
}

/// A function the CPUs were found running, in one group of processes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hot {
    pub process: String,
    pub function: String,
    /// Per cent of every sample, idle ones included.
    pub share: f64,
}

/// Samples folded into stacks as `perf script` prints them, a line at a time.
#[derive(Debug, Default)]
pub struct Folder {
    /// Samples by folded stack.
    stacks: BTreeMap<String, u64>,
    /// Samples by (process group, function at the top of the stack).
    tops: BTreeMap<(String, String), u64>,
    /// The sample being read: its group and thread, and its frames, callee first.
    sample: Option<(String, String, Vec<String>)>,
}

/// A frame's name as the folded format can hold it (`;` separates frames there).
fn frame(line: &str) -> String {
    // "    55d0c1a2b3c4 tokio::runtime::park::Inner::park (/usr/bin/fengqiao)"
    let line = line.trim();
    let rest = line.split_once(' ').map_or("", |(_, rest)| rest);
    let (symbol, object) = match rest.rfind(" (") {
        Some(at) if rest.ends_with(')') => (&rest[..at], &rest[at + 2..rest.len() - 1]),
        _ => (rest, ""),
    };
    let object = object.rsplit('/').next().unwrap_or("");
    let name = match (symbol, object) {
        ("" | "[unknown]", "" | "[unknown]") => "[unknown]".to_string(),
        // Already bracketed by perf: `[kernel.kallsyms]`, `[vdso]`.
        ("" | "[unknown]", o) if o.starts_with('[') => o.to_string(),
        ("" | "[unknown]", o) => format!("[{o}]"),
        (s, _) => s.to_string(),
    };
    name.replace(';', ":")
}

impl Folder {
    /// Reads one line of `perf script -F pid,comm,ip,sym,dso`; `group_of` names a process by its id.
    pub fn line(&mut self, line: &str, group_of: &impl Fn(u32) -> Option<String>) {
        if line.trim().is_empty() {
            self.end_sample();
        } else if line.starts_with(char::is_whitespace) {
            if let Some((_, _, frames)) = &mut self.sample {
                frames.push(frame(line));
            }
        } else {
            self.end_sample();
            // "tokio-runtime-w  4242 ": the thread's name may hold spaces; the process id comes last.
            let line = line.trim_end();
            let (thread, pid) = line.rsplit_once(char::is_whitespace).unwrap_or(("", line));
            let Ok(pid) = pid.parse::<u32>() else { return };
            // A process that ended before the load did (a PostgreSQL backend whose connection
            // closed, a `psql`) is known only by its name.
            let group = match pid {
                0 => IDLE.to_string(),
                _ => group_of(pid).unwrap_or_else(|| crate::cpu::group_of(&[], thread.trim(), false)),
            };
            self.sample = Some((group, thread.trim().replace(';', ":"), Vec::new()));
        }
    }

    fn end_sample(&mut self) {
        let Some((group, thread, frames)) = self.sample.take() else { return };
        // An idle CPU's stack is the kernel's idle loop: one frame says it.
        let (stack, top) = match group.as_str() {
            IDLE => (IDLE.to_string(), IDLE.to_string()),
            _ => {
                let callers_first = frames.iter().rev().map(String::as_str);
                let stack = [group.as_str(), thread.as_str()].into_iter().chain(callers_first).collect::<Vec<_>>();
                (stack.join(";"), frames.first().cloned().unwrap_or(thread))
            }
        };
        *self.stacks.entry(stack).or_default() += 1;
        *self.tops.entry((group, top)).or_default() += 1;
    }

    /// The folded stacks and the hottest functions, once every line is read.
    pub fn finish(mut self) -> (BTreeMap<String, u64>, Vec<Hot>, u64) {
        self.end_sample();
        let samples: u64 = self.stacks.values().sum();
        let mut tops: Vec<((String, String), u64)> = self.tops.into_iter().collect();
        tops.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let hottest = tops
            .into_iter()
            .take(SHOWN)
            .map(|((process, function), n)| Hot { process, function, share: n as f64 * 100.0 / samples as f64 })
            .collect();
        (self.stacks, hottest, samples)
    }
}

/// `perf record` sampling every CPU alongside the load.
#[derive(Debug)]
pub struct Recording {
    perf: String,
    child: tokio::process::Child,
    data: PathBuf,
}

/// What to do when perf cannot sample every CPU.
const PERMISSION: &str = "sampling every CPU needs root, or `sysctl -w kernel.perf_event_paranoid=-1`; \
                          or run without --profile";

/// The first lines of what `stderr` said.
async fn said(stderr: Option<tokio::process::ChildStderr>) -> String {
    let mut text = String::new();
    if let Some(mut stderr) = stderr {
        let _ = stderr.read_to_string(&mut text).await;
    }
    text.lines().filter(|l| !l.trim().is_empty()).take(4).collect::<Vec<_>>().join(" / ")
}

impl Recording {
    /// Starts the program `perf` sampling every CPU into `data` for `secs` seconds; fails at
    /// once, before any load, where it is missing or not allowed.
    pub async fn start(perf: &str, data: &Path, secs: u64) -> anyhow::Result<Self> {
        if let Some(dir) = data.parent() {
            std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        }
        let mut child = tokio::process::Command::new(perf)
            .args(["record", "--all-cpus", "-g", "-F", &HZ.to_string(), "-o"])
            .arg(data)
            .args(["--", "sleep", &secs.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => anyhow::anyhow!(
                    "--profile needs Linux perf, and `{perf}` is not on the PATH: install it (Debian: \
                     apt-get install linux-perf) or run without --profile"
                ),
                _ => anyhow::anyhow!("cannot start `{perf}` for --profile ({e}); or run without --profile"),
            })?;
        // perf gives up at once where it may not sample every CPU: say so before the load starts.
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let Some(status) = child.try_wait()? {
            let why = said(child.stderr.take()).await;
            anyhow::bail!("`{perf} record` stopped at once ({status}: {why}); {PERMISSION}");
        }
        Ok(Self { perf: perf.to_string(), child, data: data.to_path_buf() })
    }

    /// Waits for the recording to end, folds it with `group_of` naming each process by its
    /// id, and writes `<name>-profile.folded` and `<name>-flamegraph.svg` beside it.
    pub async fn finish(
        mut self,
        group_of: impl Fn(u32) -> Option<String>,
        name: &str,
        title: &str,
    ) -> anyhow::Result<Profile> {
        let stderr = self.child.stderr.take();
        let status = self.child.wait().await?;
        if !status.success() {
            anyhow::bail!("`{} record` failed ({status}: {}); {PERMISSION}", self.perf, said(stderr).await);
        }
        eprintln!("folding the profile's stacks ({}) …", self.data.display());
        let mut script = tokio::process::Command::new(&self.perf)
            .args(["script", "-F", "pid,comm,ip,sym,dso", "-i"])
            .arg(&self.data)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stderr = script.stderr.take();
        // perf's warnings go to stderr while it prints: read it alongside, or a full pipe stalls it.
        let warnings = tokio::spawn(said(stderr));
        let mut folder = Folder::default();
        let mut lines = BufReader::new(script.stdout.take().expect("piped")).lines();
        while let Some(line) = lines.next_line().await? {
            folder.line(&line, &group_of);
        }
        let status = script.wait().await?;
        let warnings = warnings.await.unwrap_or_default();
        if !status.success() {
            anyhow::bail!("`{} script` could not read {} ({status}: {warnings})", self.perf, self.data.display());
        }
        let (stacks, hottest, samples) = folder.finish();
        let dir = self.data.parent().unwrap_or(Path::new("."));
        let folded = dir.join(format!("{name}-profile.folded"));
        let flamegraph = dir.join(format!("{name}-flamegraph.svg"));
        let text: String = stacks.iter().map(|(stack, n)| format!("{stack} {n}\n")).collect();
        std::fs::write(&folded, text)?;
        std::fs::write(&flamegraph, crate::flame::svg(title, &stacks))?;
        Ok(Profile { samples, recording: self.data, folded, flamegraph, hottest })
    }
}

/// The lines of the report's table for `profile`.
pub fn table(profile: &Profile) -> String {
    let mut t = format!(
        "\nthe CPUs were found running (perf, {} samples on every CPU at {HZ}/s each){:>8}\n",
        profile.samples, "share"
    );
    for hot in &profile.hottest {
        let function: String = hot.function.chars().take(56).collect();
        t += &format!("  {:<24}{function:<57}{:>6.1} %\n", hot.process, hot.share);
    }
    t += &format!("  flame graph: {}\n", profile.flamegraph.display());
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `perf script -F pid,comm,ip,sym,dso` prints, abridged from a real recording.
    const SCRIPT: &str = "\
swapper     0 
\tffffffff8224215b pv_native_safe_halt ([kernel.kallsyms])
\tffffffff82243c75 default_idle ([kernel.kallsyms])

tokio-runtime-w  4242 
\t    55d0c1a2b3c4 sqlx_core::pool::inner::PoolInner<DB>::acquire (/usr/bin/fengqiao)
\t    55d0c1a2b000 tokio::runtime::task::harness::poll (/usr/bin/fengqiao)

opt cgu.14  8006 
\t         8818930 [unknown] (/usr/lib/libLLVM.so.22)
\t               2 [unknown] ([unknown])

postgres  777 
\t    5611 hash_search_with_hash_value (/usr/lib/postgresql/15/bin/postgres)
\t    5612 a;b (/usr/lib/postgresql/15/bin/postgres)
postgres  777 
\t    5611 hash_search_with_hash_value (/usr/lib/postgresql/15/bin/postgres)
\t    5612 a;b (/usr/lib/postgresql/15/bin/postgres)
swapper     0 
\tffffffff8224215b pv_native_safe_halt ([kernel.kallsyms])
";

    fn fold(script: &str) -> (BTreeMap<String, u64>, Vec<Hot>, u64) {
        let groups = |pid: u32| match pid {
            4242 => Some("fengqiao gateway".to_string()),
            777 => Some("postgres".to_string()),
            _ => None,
        };
        let mut folder = Folder::default();
        for line in script.lines() {
            folder.line(line, &groups);
        }
        folder.finish()
    }

    #[test]
    fn perf_script_folds_into_stacks_under_the_process_then_the_thread_callers_first() {
        let (stacks, _, samples) = fold(SCRIPT);
        assert_eq!(samples, 6);
        let expected: BTreeMap<String, u64> = [
            ("(idle)", 2),
            (
                "fengqiao gateway;tokio-runtime-w;tokio::runtime::task::harness::poll;\
                 sqlx_core::pool::inner::PoolInner<DB>::acquire",
                1,
            ),
            // A process gone by the end of the load, not PostgreSQL's, is `other`; a frame without a
            // symbol names its object.
            ("other;opt cgu.14;[unknown];[libLLVM.so.22]", 1),
            // A `;` inside a name would split the frame in the folded format.
            ("postgres;postgres;a:b;hash_search_with_hash_value", 2),
        ]
        .into_iter()
        .map(|(s, n)| (s.to_string(), n))
        .collect();
        assert_eq!(stacks, expected);
    }

    #[test]
    fn the_hottest_are_the_functions_at_the_top_of_the_stack_as_a_share_of_every_sample() {
        let (_, hottest, _) = fold(SCRIPT);
        let hot = |p: &str, f: &str, share: f64| Hot { process: p.into(), function: f.into(), share };
        assert_eq!(
            hottest,
            vec![
                hot("(idle)", "(idle)", 100.0 / 3.0),
                hot("postgres", "hash_search_with_hash_value", 100.0 / 3.0),
                hot("fengqiao gateway", "sqlx_core::pool::inner::PoolInner<DB>::acquire", 100.0 / 6.0),
                hot("other", "[libLLVM.so.22]", 100.0 / 6.0),
            ]
        );
        let profile = Profile {
            samples: 6,
            recording: "r.perf.data".into(),
            folded: "r-profile.folded".into(),
            flamegraph: "out/r-flamegraph.svg".into(),
            hottest,
        };
        let table = table(&profile);
        assert!(table.contains("6 samples"), "{table}");
        assert!(table.contains("hash_search_with_hash_value") && table.contains("33.3 %"), "{table}");
        assert!(table.contains("flame graph: out/r-flamegraph.svg"), "{table}");
    }

    #[test]
    fn a_process_gone_by_the_end_of_the_load_is_grouped_by_its_name() {
        let (stacks, _, _) = fold("postgres  999 \n\t 5611 ExecScan (/usr/lib/postgresql/15/bin/postgres)\n\n");
        assert_eq!(stacks.get("postgres;postgres;ExecScan"), Some(&1), "{stacks:?}");
    }

    #[test]
    fn a_sample_without_frames_counts_under_its_thread() {
        let (stacks, hottest, _) = fold("postgres  777 \n\n");
        assert_eq!(stacks.get("postgres;postgres"), Some(&1), "{stacks:?}");
        assert_eq!(hottest[0].function, "postgres");
    }

    #[tokio::test]
    async fn a_missing_perf_says_what_to_install_before_any_load() {
        let dir = tempfile::tempdir().unwrap();
        let e = Recording::start("perf-not-on-this-machine", &dir.path().join("p.data"), 1).await.unwrap_err();
        assert!(e.to_string().contains("apt-get install linux-perf"), "{e}");
    }

    #[tokio::test]
    async fn a_perf_that_stops_at_once_is_reported_before_any_load() {
        // `false` stands in for a perf refused the CPUs: it exits at once, unsuccessfully.
        let dir = tempfile::tempdir().unwrap();
        let e = Recording::start("false", &dir.path().join("p.data"), 5).await.unwrap_err();
        assert!(e.to_string().contains("stopped at once") && e.to_string().contains("perf_event_paranoid"), "{e}");
    }
}

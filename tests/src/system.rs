//! A whole fengqiao system for a test: standalone (one process, SQLite, the
//! in-process bus) or distributed (one process per component, a fresh
//! PostgreSQL database, a fresh JetStream stream), with crash and restart.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Command;

use fengqiao_platform::testing;

use crate::{command, Process};

/// Every component.
pub const COMPONENTS: [&str; 7] =
    ["gateway", "intake", "routing", "mediation", "court-linkage", "petition-linkage", "console"];

/// How the system runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One process.
    Standalone,
    /// One process per component on PostgreSQL and NATS.
    Distributed,
}

/// A running system.
pub struct System {
    /// How it runs.
    pub mode: Mode,
    /// Where each component listens.
    pub addresses: BTreeMap<String, SocketAddr>,
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    /// Where each process (`standalone` or a component) serves metrics.
    pub metrics: BTreeMap<String, SocketAddr>,
    /// Where each component listens (chosen at start; `env` may override).
    listen: Vec<(String, String)>,
    processes: BTreeMap<String, Process>,
    pg_database: Option<String>,
    settings: fengqiao_platform::Settings,
}

/// 32 random bytes, base64, as a key setting takes them.
fn random_key() -> String {
    use base64::Engine;
    let bytes: Vec<u8> = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()].iter().flat_map(|u| *u.as_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn env_key(component: &str, key: &str) -> String {
    format!("FENGQIAO_{}__{key}", component.replace('-', "_").to_uppercase())
}

impl System {
    /// Starts a system in `mode`.
    pub async fn start(mode: Mode) -> anyhow::Result<Self> {
        Self::start_with(mode, &[]).await
    }

    /// Starts a system in `mode` with extra settings (environment variables).
    pub async fn start_with(mode: Mode, extra: &[(&str, &str)]) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut settings = testing::settings();
        let mut env: Vec<(String, String)> = vec![
            ("FENGQIAO_BUS__RETRY_BACKOFF_MS".into(), "50".into()),
            ("FENGQIAO_OUTBOX__POLL_INTERVAL_MS".into(), "50".into()),
        ];
        let mut pg_database = None;
        if mode == Mode::Distributed {
            let (url, name) = testing::create_postgres_database().await?;
            pg_database = Some(name);
            settings.bus.nats_url = testing::nats_url();
            env.extend([
                ("FENGQIAO_DATABASE__URL".into(), url),
                ("FENGQIAO_BUS__NATS_URL".into(), settings.bus.nats_url.clone()),
                ("FENGQIAO_BUS__STREAM".into(), settings.bus.stream.clone()),
                ("FENGQIAO_BUS__SUBJECT_PREFIX".into(), settings.bus.subject_prefix.clone()),
                ("FENGQIAO_DEMO_DATA".into(), "true".into()),
                // Seven processes share the machine's PostgreSQL (100 connections by
                // default) with the other tests running beside them: small pools.
                ("FENGQIAO_DATABASE__MAX_CONNECTIONS".into(), "4".into()),
                ("FENGQIAO_PERSONAL_DATA__KEY".into(), random_key()),
                ("FENGQIAO_PERSONAL_DATA__HASH_KEY".into(), random_key()),
            ]);
        }
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut system = Self {
            mode,
            addresses: BTreeMap::new(),
            metrics: BTreeMap::new(),
            dir,
            env,
            listen: Vec::new(),
            processes: BTreeMap::new(),
            pg_database,
            settings,
        };
        // A free port can be taken by a parallel test between choosing and
        // binding it: try again on fresh ports.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match system.launch_all() {
                Ok(()) => return Ok(system),
                Err(e) if attempt < 3 => {
                    eprintln!("starting the system failed ({e}); trying again on other ports");
                    for (_, mut p) in std::mem::take(&mut system.processes) {
                        p.kill();
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Chooses ports and starts every process of the mode.
    fn launch_all(&mut self) -> anyhow::Result<()> {
        // Fixed free ports, so command-line clients run with the same settings find every component.
        let ports = crate::free_ports(COMPONENTS.len());
        self.listen =
            COMPONENTS.iter().zip(ports).map(|(c, port)| (env_key(c, "LISTEN"), format!("127.0.0.1:{port}"))).collect();
        self.addresses.clear();
        match self.mode {
            Mode::Standalone => self.launch("standalone"),
            Mode::Distributed => COMPONENTS.iter().try_for_each(|c| self.launch(c)),
        }
    }

    fn command(&self) -> Command {
        let mut cmd = command(self.dir.path());
        cmd.envs(self.listen.iter().chain(&self.env).map(|(k, v)| (k.as_str(), v.as_str())));
        cmd
    }

    /// Starts `standalone`, or one component, and records where it listens.
    fn launch(&mut self, what: &str) -> anyhow::Result<()> {
        let mut cmd = self.command();
        let expected = if what == "standalone" {
            cmd.arg("standalone");
            COMPONENTS.len()
        } else {
            cmd.args(["serve", what]);
            1
        };
        let process = Process::start(cmd, expected)?;
        self.addresses.extend(process.addresses.clone());
        if let Some(addr) = process.metrics {
            self.metrics.insert(what.to_string(), addr);
        }
        self.processes.insert(what.to_string(), process);
        Ok(())
    }

    /// Starts one more process of `component` on its own port, sharing the
    /// database and stream (distributed mode): a replica.
    pub fn add_replica(&mut self, component: &str) -> anyhow::Result<()> {
        self.add_replica_logging_to(component, &[], std::process::Stdio::inherit())
    }

    /// [`Self::add_replica`] with extra settings, its log (stderr) sent to `log`.
    pub fn add_replica_logging_to(
        &mut self,
        component: &str,
        extra: &[(&str, &str)],
        log: std::process::Stdio,
    ) -> anyhow::Result<()> {
        let port = crate::free_ports(1)[0];
        let mut cmd = self.command();
        cmd.env(env_key(component, "LISTEN"), format!("127.0.0.1:{port}"));
        cmd.envs(extra.iter().copied());
        cmd.args(["serve", component]);
        let process = crate::Process::start_logging_to(cmd, 1, log)?;
        let n = self.processes.keys().filter(|k| k.starts_with(component)).count();
        self.processes.insert(format!("{component}#{}", n + 1), process);
        Ok(())
    }

    /// The bus settings the processes use (their stream and subject prefix).
    pub fn bus_settings(&self) -> fengqiao_platform::config::BusSettings {
        let mut bus = self.settings.bus.clone();
        if let Some((_, url)) = self.env.iter().rev().find(|(k, _)| k == "FENGQIAO_BUS__NATS_URL") {
            bus.nats_url = url.clone();
        }
        bus
    }

    /// The directory its processes run in (standalone keeps its data in `fengqiao-data` there).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The PostgreSQL URL of this system's database (distributed mode): the
    /// last one given, so a test may point the system at a server of its own.
    pub fn database_url(&self) -> Option<String> {
        self.env.iter().rfind(|(k, _)| k == "FENGQIAO_DATABASE__URL").map(|(_, v)| v.clone())
    }

    /// Where `component` listens.
    pub fn addr(&self, component: &str) -> SocketAddr {
        self.addresses[component]
    }

    /// The Prometheus text that process `what` (`standalone` or a component) serves now.
    pub async fn scrape(&self, what: &str) -> anyhow::Result<String> {
        let addr = self.metrics.get(what).ok_or_else(|| anyhow::anyhow!("{what} printed no metrics address"))?;
        Ok(crate::http_client().get(format!("http://{addr}/metrics")).send().await?.error_for_status()?.text().await?)
    }

    /// A development token for `agency`.
    pub fn token(&self, agency: &str) -> String {
        let mut cmd = self.command();
        cmd.args(["token", agency]);
        let out = cmd.output().expect("fengqiao token");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// Runs `fengqiao <args>` against this system, as an operator would.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        self.command().args(args).output().expect("fengqiao runs")
    }

    /// Kills `component`'s process with SIGKILL (distributed mode).
    pub fn kill(&mut self, component: &str) {
        if let Some(mut p) = self.processes.remove(component) {
            p.kill();
        }
    }

    /// Starts `component` again on the same address (distributed mode).
    pub fn restart(&mut self, component: &str) -> anyhow::Result<()> {
        self.launch(component)
    }

    /// Stops everything and drops the test database and stream.
    pub async fn finish(mut self) {
        for (_, mut p) in std::mem::take(&mut self.processes) {
            let _ = p.terminate(std::time::Duration::from_secs(5)).await;
        }
        if self.mode == Mode::Distributed {
            testing::finish_bus(&self.settings).await;
        }
        if let Some(name) = self.pg_database.take() {
            testing::drop_postgres_database(&name).await;
        }
    }
}

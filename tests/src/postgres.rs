//! A PostgreSQL cluster of a test's own (Debian's PostgreSQL binaries, a fresh
//! data directory, a free port), which the test can crash and start again:
//! restart and fault tests that must not disturb the shared server. initdb
//! refuses to run as root, so under root the cluster belongs to `postgres`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A postgres server the test controls.
pub struct OwnPostgres {
    port: u16,
    dir: tempfile::TempDir,
    running: bool,
}

/// Where Debian keeps the server binaries (the newest version installed).
fn bin(name: &str) -> PathBuf {
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .and_then(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).max_by_key(|p| p.file_name().map(|n| n.to_owned())));
    newest.map(|d| d.join("bin").join(name)).filter(|p| p.exists()).unwrap_or_else(|| PathBuf::from(name))
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Runs a server binary, as `postgres` when the test runs as root.
fn run(program: &str, args: &[&str]) -> anyhow::Result<Output> {
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin(program));
        c
    } else {
        Command::new(bin(program))
    };
    let out = cmd.args(args).output().map_err(|e| anyhow::anyhow!("cannot run {program} ({e}); install postgresql"))?;
    anyhow::ensure!(
        out.status.success(),
        "{program} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(out)
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

impl OwnPostgres {
    /// Creates a cluster in a fresh directory (trust authentication, user
    /// `postgres`) and starts it on a free port.
    pub fn start() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("fengqiao-pg").tempdir()?;
        if is_root() {
            let status = Command::new("chown").args(["postgres:postgres", path(dir.path())]).status()?;
            anyhow::ensure!(status.success(), "cannot give {} to the postgres user", dir.path().display());
        }
        let data = dir.path().join("data");
        run("initdb", &["-D", path(&data), "-A", "trust", "-U", "postgres", "--no-sync"])?;
        let mut pg = Self { port: crate::free_ports(1)[0], dir, running: false };
        pg.resume()?;
        Ok(pg)
    }

    /// A URL for the `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server the way a crash does (`pg_ctl stop -m immediate`: no
    /// checkpoint, every connection cut); the next start recovers from the WAL.
    pub fn crash(&mut self) -> anyhow::Result<()> {
        if self.running {
            run("pg_ctl", &["-D", path(&self.dir.path().join("data")), "stop", "-m", "immediate", "-w"])?;
            self.running = false;
        }
        Ok(())
    }

    /// Starts the server again on the same port and data, and waits until it accepts connections.
    pub fn resume(&mut self) -> anyhow::Result<()> {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c max_connections=200 -c fsync=on",
            self.port,
            path(self.dir.path())
        );
        let log = self.dir.path().join("postgres.log");
        run("pg_ctl", &["-D", path(&self.dir.path().join("data")), "-o", &options, "-l", path(&log), "-w", "start"])?;
        self.running = true;
        Ok(())
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = self.crash();
    }
}

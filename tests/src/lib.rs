//! Drives the real `fengqiao` binary as an operator or agency system would:
//! start it as a separate process, read where it listens, talk gRPC to it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;

pub mod console;
pub mod http;
pub mod idp;
pub mod nats;
pub mod postgres;
pub mod proxy;
pub mod reconcile;
pub mod scenario;
pub mod system;
pub mod workload;

/// The `fengqiao` binary built beside this test (target/<profile>/fengqiao).
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target directory");
    let bin = dir.join("fengqiao");
    assert!(bin.exists(), "{} is missing: build it with `cargo build -p fengqiao`", bin.display());
    bin
}

/// `n` distinct free ports on 127.0.0.1, below the ports the kernel gives
/// outgoing connections: a process restarted on its port (a crash test) would
/// otherwise find it taken by some test's connection in between. Every listener
/// is held until all are chosen, so no two are the same; the search starts at a
/// random port, so tests choosing at once rarely try the same ones.
pub fn free_ports(n: usize) -> Vec<u16> {
    let (low, high) = ports_no_connection_takes();
    let span = u32::from(high - low);
    let start = (uuid::Uuid::new_v4().as_u128() % u128::from(span)) as u32;
    let listeners: Vec<std::net::TcpListener> = (0..span)
        .map(|i| low + ((start + i) % span) as u16)
        .filter_map(|port| std::net::TcpListener::bind(("127.0.0.1", port)).ok())
        .take(n)
        .collect();
    assert_eq!(listeners.len(), n, "{n} free ports between {low} and {high}");
    listeners.iter().map(|l| l.local_addr().expect("bound").port()).collect()
}

/// From 10000 up to the first port of Linux's range for outgoing connections
/// (`net.ipv4.ip_local_port_range`, 32768 by default).
fn ports_no_connection_takes() -> (u16, u16) {
    let first_outgoing = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    (10000, first_outgoing.max(20000))
}

/// A `fengqiao` command in `dir`, with no FENGQIAO_* variable inherited.
pub fn command(dir: &Path) -> Command {
    let mut cmd = Command::new(binary());
    cmd.current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("FENGQIAO_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("FENGQIAO_TELEMETRY__LOG_FILTER", "warn");
    // No admin endpoint unless a test asks for one (`METRICS_ON`): one more
    // port per process is one more chance to take a port another test chose.
    cmd.env("FENGQIAO_TELEMETRY__METRICS_LISTEN", "");
    cmd
}

/// The setting that gives each process an admin endpoint (metrics, probes)
/// on a free port of its own, which it prints.
pub const METRICS_ON: (&str, &str) = ("FENGQIAO_TELEMETRY__METRICS_LISTEN", "127.0.0.1:0");

/// A running fengqiao process; killed when dropped.
pub struct Process {
    /// The child.
    pub child: Child,
    /// `component → address` as the process printed them.
    pub addresses: BTreeMap<String, SocketAddr>,
    /// Where it serves Prometheus metrics, as it printed it.
    pub metrics: Option<SocketAddr>,
}

impl Process {
    /// Sends SIGKILL and reaps the process: a crash, with no chance to clean up.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts `cmd` and waits (up to 60 s) until it has printed `expected` addresses.
    pub fn start(cmd: Command, expected: usize) -> anyhow::Result<Self> {
        Self::start_logging_to(cmd, expected, Stdio::inherit())
    }

    /// [`Self::start`], with the process's log (its stderr) sent to `log`.
    pub fn start_logging_to(mut cmd: Command, expected: usize, log: Stdio) -> anyhow::Result<Self> {
        let mut child = cmd.stdout(Stdio::piped()).stderr(log).spawn()?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut addresses = BTreeMap::new();
        let mut metrics = None;
        while addresses.len() < expected {
            let line = rx.recv_timeout(Duration::from_secs(60)).map_err(|_| {
                anyhow::anyhow!("fengqiao printed {} of {expected} addresses before stopping", addresses.len())
            })?;
            if let Some((name, addr)) = parse_address(&line) {
                addresses.insert(name, addr);
            }
            metrics = metrics.or_else(|| parse_metrics(&line));
        }
        Ok(Self { child, addresses, metrics })
    }

    /// Sends SIGTERM and waits for the exit status (at most `within`),
    /// yielding so this test's own gRPC connections can answer the server's
    /// goodbye.
    pub async fn terminate(&mut self, within: Duration) -> anyhow::Result<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if start.elapsed() > within {
                anyhow::bail!("fengqiao did not stop within {within:?} of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `  <component>   <ip:port>` (standalone) or `fengqiao <component> listening on <ip:port>` (serve).
fn parse_address(line: &str) -> Option<(String, SocketAddr)> {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        [name, addr] if line.starts_with("  ") => Some((name.to_string(), addr.parse().ok()?)),
        ["fengqiao", name, "listening", "on", addr] => Some((name.to_string(), addr.parse().ok()?)),
        _ => None,
    }
}

/// Reads the metrics address from `  metrics   http://<ip:port>/metrics` (standalone)
/// or `fengqiao <component> metrics on http://<ip:port>/metrics` (serve).
fn parse_metrics(line: &str) -> Option<SocketAddr> {
    let url = line.split_whitespace().last()?;
    if !line.contains("metrics") {
        return None;
    }
    url.strip_prefix("http://")?.strip_suffix("/metrics")?.parse().ok()
}

/// A gRPC channel to `addr`.
pub async fn channel(addr: SocketAddr) -> anyhow::Result<tonic::transport::Channel> {
    Ok(tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await?)
}

/// The overall grpc.health.v1 status of the server at `addr`.
pub async fn health(addr: SocketAddr) -> anyhow::Result<ServingStatus> {
    health_of(addr, "").await
}

/// The grpc.health.v1 status of `service` ("" for the whole server) at `addr`.
pub async fn health_of(addr: SocketAddr, service: &str) -> anyhow::Result<ServingStatus> {
    let mut client = HealthClient::new(channel(addr).await?);
    let reply = client.check(HealthCheckRequest { service: service.to_string() }).await?.into_inner();
    Ok(ServingStatus::try_from(reply.status)?)
}

/// The services the server at `addr` lists by gRPC reflection (v1).
pub async fn reflected_services(addr: SocketAddr) -> anyhow::Result<Vec<String>> {
    let mut client = ServerReflectionClient::new(channel(addr).await?);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies = client.server_reflection_info(tokio_stream::iter([request])).await?.into_inner();
    let reply = replies.message().await?.ok_or_else(|| anyhow::anyhow!("no reflection reply"))?;
    match reply.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => Ok(list.service.into_iter().map(|s| s.name).collect()),
        other => anyhow::bail!("unexpected reflection reply {other:?}"),
    }
}

/// An HTTP client (rustls with ring, the gateway's own TLS provider).
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// An HTTP/2 client without TLS, for raw gRPC calls.
pub fn http2_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().http2_prior_knowledge().build().expect("an HTTP/2 client")
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_address_lines_are_read() {
        let (n, a) = super::parse_address("  intake             127.0.0.1:50051").unwrap();
        assert_eq!((n.as_str(), a.port()), ("intake", 50051));
        let (n, a) = super::parse_address("fengqiao routing listening on 127.0.0.1:4000").unwrap();
        assert_eq!((n.as_str(), a.port()), ("routing", 4000));
        assert!(super::parse_address("fengqiao standalone is running").is_none());
    }

    #[test]
    fn chosen_ports_are_distinct_free_and_below_outgoing_connections_ports() {
        let (low, high) = super::ports_no_connection_takes();
        let ports = super::free_ports(7);
        let distinct: std::collections::BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), 7, "{ports:?}");
        for port in ports {
            assert!((low..high).contains(&port), "{port} outside {low}..{high}");
            std::net::TcpListener::bind(("127.0.0.1", port)).unwrap_or_else(|e| panic!("{port} is not free: {e}"));
        }
    }
}

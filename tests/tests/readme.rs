//! The README's walkthrough and the agency guide's examples work verbatim
//! against a running standalone fengqiao.

use std::path::{Path, PathBuf};
use std::process::Command;

use fengqiao_tests::{binary, command, free_ports, system::COMPONENTS, Process};

/// The sh block between `<!-- <marker>:start -->` and `<!-- <marker>:end -->` in `file`.
fn block(file: &str, marker: &str) -> String {
    let text = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(file)).unwrap();
    let start = text.find(&format!("<!-- {marker}:start -->")).expect("start marker");
    let end = text.find(&format!("<!-- {marker}:end -->")).expect("end marker");
    let code = text[start..end].split("```sh\n").nth(1).expect("a sh block");
    code.split("```").next().unwrap().to_string()
}

/// Runs `script` in a fresh directory beside a standalone fengqiao; returns what it printed.
async fn run_beside_standalone(script: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    // A free port can be taken by a parallel test between choosing and binding it: try others.
    let mut attempt = 0;
    let (listen, mut process) = loop {
        attempt += 1;
        let listen: Vec<(String, String)> = COMPONENTS
            .iter()
            .zip(free_ports(COMPONENTS.len()))
            .map(|(c, port)| {
                (format!("FENGQIAO_{}__LISTEN", c.replace('-', "_").to_uppercase()), format!("127.0.0.1:{port}"))
            })
            .collect();
        let mut server = command(dir.path());
        server.envs(listen.clone());
        match Process::start(server, COMPONENTS.len()) {
            Ok(process) => break (listen, process),
            Err(e) if attempt < 3 => eprintln!("standalone did not start ({e}); trying other ports"),
            Err(e) => panic!("standalone did not start: {e}"),
        }
    };
    let gateway = listen.iter().find(|(k, _)| k == "FENGQIAO_GATEWAY__LISTEN").unwrap().1.clone();

    let bin_dir = binary().parent().map(Path::to_path_buf).unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    // A person pauses between commands; so does this test.
    let script = format!("set -euo pipefail\ntrap 'sleep 0.3' DEBUG\n{script}");
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir.path())
        .env("PATH", path)
        .envs(listen)
        .env("GATEWAY", gateway)
        .env("FENGQIAO_TELEMETRY__LOG_FILTER", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "the script failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(process.terminate(std::time::Duration::from_secs(5)).await.unwrap().success());
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agency_guide_examples_run_as_written() {
    let stdout = run_beside_standalone(&block("docs/agency-guide.md", "guide")).await;
    for said in [
        "\"created\":true",
        "REFERRAL_STATE_RECEIVED",
        "village-620802001001",
        "\"field\":\"reason\"",
        "type.googleapis.com/google.rpc.BadRequest",
    ] {
        assert!(stdout.contains(said), "{said} missing from:\n{stdout}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_walkthrough_runs_as_written() {
    let stdout = run_beside_standalone(&block("README.md", "walkthrough")).await;
    for step in ["REGISTERED", "REQUESTED", "RECEIVED", "ACCEPTED", "IN_PROGRESS", "COMPLETED", "AGREEMENT"] {
        assert!(stdout.contains(step), "{step} missing from:\n{stdout}");
    }
}

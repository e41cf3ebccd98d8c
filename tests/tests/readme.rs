//! The README's walkthrough works verbatim against a running standalone fengqiao.

use std::path::{Path, PathBuf};
use std::process::Command;

use fengqiao_tests::{binary, command, free_ports, system::COMPONENTS, Process};

fn walkthrough() -> String {
    let readme = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
    let start = readme.find("<!-- walkthrough:start -->").expect("walkthrough start marker");
    let end = readme.find("<!-- walkthrough:end -->").expect("walkthrough end marker");
    let block = &readme[start..end];
    let code = block.split("```sh\n").nth(1).expect("a sh block");
    code.split("```").next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_walkthrough_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let listen: Vec<(String, String)> = COMPONENTS
        .iter()
        .zip(free_ports(COMPONENTS.len()))
        .map(|(c, port)| {
            (format!("FENGQIAO_{}__LISTEN", c.replace('-', "_").to_uppercase()), format!("127.0.0.1:{port}"))
        })
        .collect();
    let mut server = command(dir.path());
    server.envs(listen.clone());
    let mut process = Process::start(server, COMPONENTS.len()).unwrap();

    let bin_dir = binary().parent().map(Path::to_path_buf).unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    // A person pauses between commands; so does this test.
    let script = format!("set -euo pipefail\ntrap 'sleep 0.3' DEBUG\n{}", walkthrough());
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir.path())
        .env("PATH", path)
        .envs(listen)
        .env("FENGQIAO_TELEMETRY__LOG_FILTER", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "walkthrough failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for step in ["REGISTERED", "REQUESTED", "RECEIVED", "ACCEPTED", "IN_PROGRESS", "COMPLETED", "AGREEMENT"] {
        assert!(stdout.contains(step), "{step} missing from:\n{stdout}");
    }
    assert!(process.terminate(std::time::Duration::from_secs(5)).await.unwrap().success());
}

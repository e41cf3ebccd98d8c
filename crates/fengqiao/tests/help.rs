//! The command line explains itself.

use std::process::Command;

fn fengqiao(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fengqiao")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn help_names_every_command() {
    let (ok, text) = fengqiao(&["--help"]);
    assert!(ok);
    for command in ["standalone", "serve", "migrate", "--config"] {
        assert!(text.contains(command), "{command} missing from:\n{text}");
    }
}

#[test]
fn serve_help_lists_every_component() {
    let (ok, text) = fengqiao(&["serve", "--help"]);
    assert!(ok);
    for component in ["intake", "routing", "mediation", "court-linkage", "petition-linkage", "gateway", "console"] {
        assert!(text.contains(component), "{component} missing from:\n{text}");
    }
}

#[test]
fn an_unknown_component_is_refused_with_the_list_of_known_ones() {
    let out = Command::new(env!("CARGO_BIN_EXE_fengqiao")).args(["serve", "courts"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("court-linkage"), "{stderr}");
}

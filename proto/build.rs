//! Generates the Rust code of every fengqiao contract once, with a pure-Rust
//! protobuf parser (protox): nobody needs a system `protoc`. Also writes the
//! file descriptor set that gRPC reflection serves.

use std::path::{Path, PathBuf};

fn proto_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            proto_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "proto") {
            println!("cargo:rerun-if-changed={}", path.display());
            out.push(path);
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut files = Vec::new();
    proto_files(Path::new("fengqiao"), &mut files);
    // The error model the gateway's HTTP face writes as JSON (not imported by any contract).
    files.push(PathBuf::from("third_party/google/rpc/status.proto"));
    files.push(PathBuf::from("third_party/google/rpc/error_details.proto"));
    println!("cargo:rerun-if-changed=third_party");
    println!("cargo:rerun-if-changed=build.rs");

    let mut compiler = protox::Compiler::new(["third_party", "."])?;
    compiler.include_source_info(true).include_imports(true).open_files(&files)?;
    let fds = compiler.file_descriptor_set();

    // Encoded by protox itself, so options keep their extensions (google.api.http).
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("fengqiao_descriptor.bin"), compiler.encode_file_descriptor_set())?;

    tonic_prost_build::configure().emit_rerun_if_changed(false).compile_fds(fds)?;
    Ok(())
}

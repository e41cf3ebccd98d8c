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
    println!("cargo:rerun-if-changed=third_party");
    println!("cargo:rerun-if-changed=build.rs");

    let fds = protox::Compiler::new([".", "third_party"])?
        .include_source_info(true)
        .include_imports(true)
        .open_files(&files)?
        .file_descriptor_set();

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("fengqiao_descriptor.bin"), prost::Message::encode_to_vec(&fds))?;

    tonic_prost_build::configure().emit_rerun_if_changed(false).compile_fds(fds)?;
    Ok(())
}

//! `fengqiao`: standalone mode (the default), one component per process,
//! migrations. See `fengqiao --help`.

/// mimalloc instead of glibc's malloc: every call allocates (protobuf,
/// SQL rows, tonic buffers) across many threads, where glibc's arenas spend
/// a sixth of the CPU (measured with perf under load, docs/performance.md).
mod allocator;
mod cli;
mod commands;
mod components;

fn main() -> std::process::ExitCode {
    // Before the runtime's threads start allocating.
    allocator::keep_freed_memory();
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(cli::run()),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e} (the system refused its threads: check `ulimit -u`)");
            std::process::ExitCode::FAILURE
        }
    }
}

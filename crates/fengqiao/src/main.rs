//! `fengqiao`: standalone mode (the default), one component per process,
//! migrations. See `fengqiao --help`.

/// mimalloc instead of glibc's malloc: every call allocates (protobuf,
/// SQL rows, tonic buffers) across many threads, where glibc's arenas spend
/// a sixth of the CPU (measured with perf under load, docs/performance.md).
mod allocator;
mod cli;
mod commands;
mod components;
/// SQLite's allocations through mimalloc too, without SQLite's process-wide
/// statistics lock: standalone +7–19 % closed loop (docs/performance.md, 46th round).
mod sqlite_memory;

fn main() -> std::process::ExitCode {
    // Before the runtime's threads start allocating, and before SQLite's first use.
    allocator::keep_freed_memory();
    if let Err(e) = sqlite_memory::configure() {
        eprintln!("warning: {e}");
    }
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(cli::run()),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e} (the system refused its threads: check `ulimit -u`)");
            std::process::ExitCode::FAILURE
        }
    }
}

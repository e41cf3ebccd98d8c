//! `fengqiao`: standalone mode (the default), one component per process,
//! migrations. See `fengqiao --help`.

mod cli;
mod commands;
mod components;

/// mimalloc instead of glibc's malloc: every call allocates (protobuf,
/// SQL rows, tonic buffers) across many threads, where glibc's arenas spend
/// a sixth of the CPU (measured with perf under load, docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    cli::run().await
}

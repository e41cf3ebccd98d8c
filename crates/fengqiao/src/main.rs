//! `fengqiao`: standalone mode (the default), one component per process,
//! migrations. See `fengqiao --help`.

mod cli;
mod commands;
mod components;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    cli::run().await
}

//! What every fengqiao component needs: configuration, telemetry, the two
//! databases, the two event buses, the transactional outbox and idempotent
//! inbox, gRPC serving and the life of a component process.

pub mod admin;
pub mod bus;
pub mod component;
pub mod config;
pub mod consumer;
pub mod db;
pub mod dead_letter;
pub mod front;
pub mod group_commit;
pub mod grpc;
pub mod grpc_trace;
pub mod metrics;
pub mod migrate;
pub mod outage;
pub mod outbox;
pub mod retention;
pub mod secrets;
pub mod sqlite_plans;
pub mod status;
pub mod telemetry;
pub mod testing;

pub use component::{ComponentRuntime, RunningComponent};
pub use config::Settings;
pub use db::{Backend, Database};

//! The command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fengqiao_platform::Settings;

use crate::commands;
use crate::components;

/// fengqiao links police stations, courts and petition bureaus to a county's
/// mediation organisations: a dispute is registered once, handed to the right
/// mediators, tracked against its legal clock, and its result flows back.
///
/// With no command, runs every component in this process on SQLite files under
/// ./fengqiao-data and an in-process bus (standalone mode).
#[derive(Debug, Parser)]
#[command(name = "fengqiao", version, propagate_version = true)]
pub struct Cli {
    /// A TOML configuration file; FENGQIAO_* environment variables override it
    /// (e.g. FENGQIAO_DATABASE__URL, FENGQIAO_INTAKE__LISTEN).
    #[arg(long, short, global = true, env = "FENGQIAO_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Every component in one process, on SQLite and the in-process bus: zero set-up.
    Standalone,
    /// One component in its own process (distributed mode: PostgreSQL and NATS JetStream).
    Serve {
        /// The component to run.
        #[arg(value_parser = components::names())]
        component: String,
    },
    /// Registers a new token key for an agency and prints a JWT signed with it
    /// (sent as `authorization: Bearer <token>`); its key id is printed on
    /// stderr for revocation. Writes to the gateway's database (database.url,
    /// or ./fengqiao-data in standalone mode).
    Token {
        /// The agency id, e.g. police-620802-dongguan, court-620802, petition-620802.
        agency: String,
        /// Days the token stays valid.
        #[arg(long, default_value_t = 30)]
        days: i64,
    },
    /// The agency registry's credentials: list, revoke, register keys and
    /// certificates, and a development CA.
    Credentials {
        #[command(subcommand)]
        command: commands::CredentialsCommand,
    },
    /// The console's staff accounts: add one (or reset its password).
    Accounts {
        #[command(subcommand)]
        command: commands::AccountsCommand,
    },
    /// The gateway's audit log: verify its hash chain, or list the calls about a case.
    Audit {
        #[command(subcommand)]
        command: commands::AuditCommand,
    },
    /// The agency registry: list, add, disable agencies.
    Agencies {
        #[command(subcommand)]
        command: commands::AgenciesCommand,
    },
    /// Acts as an agency system through the gateway (submit, status, watch, revoke).
    Agency {
        /// The agency, e.g. police-620802-dongguan, court-620802, petition-620802.
        #[arg(long = "as", value_name = "AGENCY")]
        agency: String,
        /// A token to send; by default a one-day token is issued from this installation's registry.
        #[arg(long)]
        token: Option<String>,
        #[command(subcommand)]
        command: commands::AgencyCommand,
    },
    /// Acts as an organisation's staff (inbox, accept, reject, start, conclude).
    Org {
        /// The organisation, e.g. village-620802001001.
        #[arg(long = "as", value_name = "ORG")]
        org: String,
        #[command(subcommand)]
        command: commands::OrgCommand,
    },
    /// Lists or imports the organisation directory (through routing's API).
    Directory {
        #[command(subcommand)]
        command: commands::DirectoryCommand,
    },
    /// Moves a case to another organisation on staff's decision, with the reason.
    Reroute {
        /// The case id.
        case_id: String,
        /// The organisation to send it to.
        #[arg(long)]
        to: String,
        /// Why.
        #[arg(long)]
        reason: String,
        /// Who decides, e.g. county-620802-centre.
        #[arg(long)]
        by: String,
    },
    /// Alarms, the county's figures, and re-driving stuck cases (through routing's API).
    Supervision {
        #[command(subcommand)]
        command: commands::SupervisionCommand,
    },
    /// Events parked in the dead-letter records: list them, replay them once fixed
    /// (reads each component's database directly, like `migrate`).
    Dlq {
        #[command(subcommand)]
        command: commands::DlqCommand,
    },
    /// Publishes again the events each component committed since a moment, after the NATS
    /// stream was lost (reads each component's database directly, like `migrate`).
    Outbox {
        #[command(subcommand)]
        command: commands::OutboxCommand,
    },
    /// Drives a running fengqiao through its gateway as many police systems would (open
    /// loop at a rate, or closed loop at a concurrency) with the machine's raw ceilings
    /// measured in the same run; prints a table, writes a JSON report and an SVG chart.
    /// Registers its own agencies (reads the gateway's database, like `token`).
    Bench(fengqiao_bench::BenchArgs),
    /// Adds N historical cases to a running distributed fengqiao, to measure latency as the
    /// tables grow: drives one case to its conclusion, then clones its rows N times with fresh
    /// ids inside PostgreSQL (a progress bar shows the rate).
    Seed(fengqiao_bench::seed::SeedArgs),
    /// Asks a running component whether it serves (grpc.health.v1); exits 0 when it
    /// does. For container health checks: `fengqiao health --addr 127.0.0.1:50051`.
    Health {
        /// The component, reached at its configured endpoint.
        #[arg(value_parser = components::names(), default_value = "gateway")]
        component: String,
        /// Ask this address instead (host:port, plaintext).
        #[arg(long)]
        addr: Option<String>,
        /// The health service: "" for readiness (database and NATS reachable), "liveness" for the process alone.
        #[arg(long, default_value = "")]
        service: String,
    },
    /// Prints the OpenAPI 3 document of the gateway's HTTP/JSON face (also served at /openapi.json).
    Openapi,
    /// Applies database migrations, for every component or one, and exits.
    Migrate {
        /// Only this component.
        #[arg(long, value_parser = components::names())]
        component: Option<String>,
    },
}

/// Parses the command line and runs the command.
pub async fn run() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command.unwrap_or(Command::Standalone) {
        Command::Standalone => commands::standalone(settings).await,
        Command::Serve { component } => commands::serve(settings, &component).await,
        Command::Token { agency, days } => commands::token(settings, &agency, days).await,
        Command::Credentials { command } => commands::credentials(settings, command).await,
        Command::Agencies { command } => commands::agencies(settings, command).await,
        Command::Accounts { command } => commands::accounts(settings, command).await,
        Command::Audit { command } => commands::audit(settings, command).await,
        Command::Agency { agency, token, command } => commands::agency(settings, &agency, token, command).await,
        Command::Org { org, command } => commands::org(settings, &org, command).await,
        Command::Directory { command } => commands::directory(settings, command).await,
        Command::Reroute { case_id, to, reason, by } => commands::reroute(settings, &case_id, &to, &reason, &by).await,
        Command::Supervision { command } => commands::supervision(settings, command).await,
        Command::Dlq { command } => commands::dlq(settings, command).await,
        Command::Outbox { command } => commands::outbox(settings, command).await,
        Command::Bench(args) => fengqiao_bench::run(&settings, &args).await.map(|_| ()),
        Command::Seed(args) => fengqiao_bench::seed::run(&settings, &args).await.map(|_| ()),
        Command::Health { component, addr, service } => commands::health(settings, &component, addr, &service).await,
        Command::Openapi => {
            let pool = fengqiao_gateway::http::rules::pool();
            let document = fengqiao_gateway::http::openapi::document(&pool);
            println!("{}", serde_json::to_string_pretty(&document).expect("a JSON document"));
            Ok(())
        }
        Command::Migrate { component } => commands::migrate(settings, component.as_deref()).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            match e.downcast_ref::<tonic::Status>() {
                Some(status) => {
                    eprintln!("error: {:?}: {}", status.code(), status.message());
                    for v in fengqiao_platform::status::violations(status) {
                        eprintln!("  {}: {}", v.field, v.description);
                    }
                }
                None => eprintln!("error: {e:#}"),
            }
            ExitCode::FAILURE
        }
    }
}

//! `fengqiao accounts …`: the console's staff accounts (writes the console's
//! database directly; passwords are generated and shown once).

use clap::Subcommand;
use fengqiao_console::accounts::{self, Role, Staff};
use fengqiao_console::Console;
use fengqiao_platform::component::{self, Component};
use fengqiao_platform::Settings;

/// Account commands.
#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// Creates an account (or resets one of the same name) with a new
    /// generated password, printed once on stdout (or none, with --sso-only).
    Add {
        /// The sign-in name: 3 to 64 letters, digits or - _ . @.
        username: String,
        /// clerk, mediator, org_head, supervisor, leader or administrator.
        #[arg(long, value_parser = ["clerk", "mediator", "org_head", "supervisor", "leader", "administrator"])]
        role: String,
        /// The organisation a clerk, mediator or head works in, e.g. village-620802001001.
        #[arg(long, default_value = "")]
        org: String,
        /// The division-code prefix a supervisor or leader oversees, e.g. 620802.
        #[arg(long, default_value = "")]
        jurisdiction: String,
        /// The name shown in the console; the username if not given.
        #[arg(long)]
        name: Option<String>,
        /// No password: the account signs in through the province's identity
        /// platform only (OpenID Connect; its username claim names the account).
        #[arg(long)]
        sso_only: bool,
    },
}

/// Runs an account command.
pub async fn accounts(settings: Settings, command: AccountsCommand) -> anyhow::Result<()> {
    let (db, _) = component::migrate(&settings, Console::NAME, Console::MIGRATIONS).await?;
    match command {
        AccountsCommand::Add { username, role, org, jurisdiction, name, sso_only } => {
            let role = Role::parse(&role).ok_or_else(|| anyhow::anyhow!("no role {role}"))?;
            let staff = Staff {
                display_name: name.unwrap_or_else(|| username.clone()),
                username,
                role,
                org_id: org,
                jurisdiction,
            };
            if sso_only {
                accounts::put(db.writer(), &staff, None).await?;
                eprintln!(
                    "account {} ({}) ready; it signs in through the identity platform only",
                    staff.username,
                    role.name()
                );
            } else {
                let password = accounts::generate_password();
                accounts::put(db.writer(), &staff, Some(&password)).await?;
                eprintln!("account {} ({}) ready; its password, shown once:", staff.username, role.name());
                println!("{password}");
            }
        }
    }
    Ok(())
}

//! Console: the web workplace of the mediation centre's staff, served as
//! server-rendered HTML pages (no script needed: plain forms, so it works on
//! any phone and with a keyboard alone), in Chinese first with English.
//! Staff sign in with local accounts (Argon2id); every step goes through the
//! same APIs with the same authorisation as everything else, and is recorded
//! with the username in the console's audit log. See docs/console.md.

pub mod accounts;
mod admin;
mod agency;
mod app;
mod casefile;
mod casework;
mod counter;
mod directory;
mod i18n;
mod items;
mod joint;
mod oidc;
mod oversight;
mod pages;
mod position;
mod sessions;
mod sso;
mod story;
mod summons;
mod supervise;
mod upload;
mod views;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fengqiao_platform::component::{Api, Component};
use fengqiao_platform::migrate::Migration;
use fengqiao_platform::{migration, ComponentRuntime};
use fengqiao_proto::fengqiao::intake::v1::intake_service_client::IntakeServiceClient;
use fengqiao_proto::fengqiao::mediation::v1::mediation_service_client::MediationServiceClient;
use fengqiao_proto::fengqiao::routing::v1::routing_service_client::RoutingServiceClient;
use fengqiao_proto::fengqiao::supervision::v1::supervision_service_client::SupervisionServiceClient;

pub use sessions::Lifetimes;

/// The console component.
pub struct Console;

/// How long a session lives without a request.
pub const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);
/// How long a session lives at most, from sign-in.
pub const SESSION_ABSOLUTE: Duration = Duration::from_secs(10 * 3600);

#[async_trait]
impl Component for Console {
    const NAME: &'static str = "console";
    const MIGRATIONS: &'static [Migration] = &[
        migration!("console", 1, shared "0001_accounts.sql", "staff accounts, sessions, the console's audit log"),
        migration!("console", 2, shared "0002_oidc.sql", "sign-ins waiting for the identity platform's callback"),
    ];

    async fn assemble(runtime: &ComponentRuntime) -> anyhow::Result<Api> {
        let settings = &runtime.settings;
        // The console's own tables (accounts, sessions, its audit log) are small
        // and mostly written: one pool for both, the writing one.
        let pool = runtime.db.writer().clone();
        // Standalone only: its data directory is where the installation keeps
        // its files; a distributed deployment adds accounts with `fengqiao accounts add`.
        if settings.standalone && settings.seed_demo() && accounts::count(&pool).await? == 0 {
            demo::create_accounts(&pool, &settings.data_dir).await?;
        }
        let app = Arc::new(app::App {
            db: pool.clone(),
            mediation: MediationServiceClient::new(settings.channel_to("mediation")?),
            routing: RoutingServiceClient::new(settings.channel_to("routing")?),
            intake: IntakeServiceClient::new(settings.channel_to("intake")?),
            supervision: SupervisionServiceClient::new(settings.channel_to("routing")?),
            centre: agency::Centre::new(
                settings.channel_trusting(
                    "gateway",
                    &settings.console_access.gateway_ca_file,
                    "console_access.gateway_ca_file",
                )?,
                settings.console_access.token.clone(),
            ),
            templates: views::environment(),
            life: Lifetimes { idle: SESSION_IDLE, absolute: SESSION_ABSOLUTE },
            secure_cookies: settings.console_access.secure_cookies,
            sign_ins: app::SignIns::default(),
            oidc: settings.console_access.oidc.enabled().then(|| oidc::Oidc::new(settings.console_access.oidc.clone())),
        });
        runtime.spawn("session_expiry", forget_expired_sessions(pool, runtime.shutdown_token()));
        let mut routes = tonic::service::Routes::default();
        *routes.axum_router_mut() = pages::router(app);
        Ok(Api {
            routes,
            services: vec![],
            front: Some(fengqiao_platform::grpc::Front {
                tls: None,
                grace: Duration::from_secs(settings.shutdown_grace_secs),
            }),
        })
    }
}

/// Removes expired sessions and abandoned sign-ins every ten minutes.
async fn forget_expired_sessions(pool: sqlx::AnyPool, shutdown: tokio_util::sync::CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(600)) => {}
        }
        if let Err(e) = sessions::forget_expired(&pool).await {
            tracing::warn!(error = %e, "cannot remove expired console sessions; will retry");
        }
        if let Err(e) = oidc::forget_abandoned(&pool).await {
            tracing::warn!(error = %e, "cannot remove abandoned identity-platform sign-ins; will retry");
        }
    }
}

mod demo {
    //! Demo accounts for a first look (standalone, demo data): one per role
    //! over the demo directory, with generated passwords written to a private
    //! file in the data directory.

    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    use std::path::Path;

    use crate::accounts::{self, Role, Staff};

    const ACCOUNTS: [(&str, &str, Role, &str, &str); 6] = [
        ("village-clerk", "东关村登记员", Role::Clerk, "village-620802001001", ""),
        ("village-mediator", "东关村调解员", Role::Mediator, "village-620802001001", ""),
        ("village-head", "东关村调委会主任", Role::OrgHead, "village-620802001001", ""),
        ("county-supervisor", "区矛调中心督办", Role::Supervisor, "county-620802-centre", "620802"),
        ("county-leader", "区包案领导", Role::Leader, "county-620802-centre", "620802"),
        ("admin", "系统管理员", Role::Administrator, "", ""),
    ];

    /// Creates the demo accounts and writes `username password` lines to `<data_dir>/console-accounts.txt` (0600).
    pub async fn create_accounts(pool: &sqlx::AnyPool, data_dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(data_dir)?;
        let file_path = data_dir.join("console-accounts.txt");
        let mut file =
            std::fs::OpenOptions::new().create(true).write(true).truncate(true).mode(0o600).open(&file_path)?;
        for (username, name, role, org_id, jurisdiction) in ACCOUNTS {
            let password = accounts::generate_password();
            let staff = Staff {
                username: username.into(),
                display_name: name.into(),
                role,
                org_id: org_id.into(),
                jurisdiction: jurisdiction.into(),
            };
            accounts::put(pool, &staff, Some(&password)).await?;
            writeln!(file, "{username} {password} ({})", role.name())?;
        }
        tracing::info!(file = %file_path.display(), "demo console accounts created; their passwords are in this file");
        Ok(())
    }
}

//! `fengqiao token`, `fengqiao credentials …` and `fengqiao agencies …`: the
//! gateway's registry of agencies and their credentials (reads and writes the
//! gateway's database directly, like `migrate`).

use std::path::PathBuf;

use clap::Subcommand;
use fengqiao_gateway::credentials::{self, certificate, store};
use fengqiao_gateway::Gateway;
use fengqiao_platform::component::{self, Component};
use fengqiao_platform::db::now_micros;
use fengqiao_platform::{Database, Settings};

use super::local_time;

/// Credential commands.
#[derive(Debug, Subcommand)]
pub enum CredentialsCommand {
    /// Lists credentials (newest first), with whether each is usable.
    List {
        /// Only this agency's.
        #[arg(long)]
        agency: Option<String>,
    },
    /// Revokes a credential: from the next call on, it authenticates nothing.
    Revoke {
        /// The credential id (a token's kid, or a certificate's fingerprint).
        credential_id: String,
        /// Why (kept in the registry).
        #[arg(long)]
        reason: String,
    },
    /// Registers an agency's own Ed25519 public key (PEM); the agency signs
    /// its JWTs with the private key and the printed id as `kid`.
    AddKey {
        /// The agency.
        #[arg(long)]
        agency: String,
        /// The public key, PEM (`openssl pkey -pubout`).
        #[arg(long)]
        public_key: PathBuf,
        /// Days the key stays valid.
        #[arg(long, default_value_t = 365)]
        days: i64,
    },
    /// Creates a development CA and a gateway server certificate in DIR
    /// (ca.pem, ca.key, server.pem, server.key).
    InitCa {
        /// Where to write them.
        #[arg(long)]
        dir: PathBuf,
        /// The server certificate's names.
        #[arg(long, default_values_t = ["localhost".to_string(), "127.0.0.1".to_string()])]
        host: Vec<String>,
    },
    /// Issues an agency's client certificate from the CA in DIR and registers
    /// it (writes <agency>.pem and <agency>.key into DIR).
    IssueCert {
        /// The agency.
        #[arg(long)]
        agency: String,
        /// The CA's directory (from `init-ca`).
        #[arg(long)]
        dir: PathBuf,
        /// Days the certificate stays valid.
        #[arg(long, default_value_t = 365)]
        days: i64,
    },
    /// Registers a client certificate an agency got from the province's CA.
    RegisterCert {
        /// The certificate, PEM.
        cert: PathBuf,
    },
}

/// Agency registry commands.
#[derive(Debug, Subcommand)]
pub enum AgenciesCommand {
    /// Lists the registered agencies.
    List,
    /// Registers an agency.
    Add {
        /// Its id, e.g. police-620802-dongguan.
        #[arg(long)]
        id: String,
        /// police, court, petition, organisation, lookup (a party look-up service)
        /// or centre (the county's mediation centre, as which the console acts).
        #[arg(long)]
        kind: String,
        /// Its name.
        #[arg(long)]
        name: String,
        /// The division it serves (its jurisdiction), e.g. 620802.
        #[arg(long)]
        division: String,
    },
    /// Disables an agency: none of its credentials authenticates any more.
    Disable {
        /// The agency.
        id: String,
    },
}

async fn gateway_db(settings: &Settings) -> anyhow::Result<Database> {
    Ok(component::migrate(settings, Gateway::NAME, Gateway::MIGRATIONS).await?.0)
}

/// `fengqiao token <agency>`: registers a new token key and prints a token signed with it.
pub async fn token(settings: Settings, agency_id: &str, days: i64) -> anyhow::Result<()> {
    let db = gateway_db(&settings).await?;
    let (kid, jwt) = credentials::issue_token(&db, agency_id, days).await?;
    eprintln!("credential {kid} for {agency_id}, valid {days} days (revoke: fengqiao credentials revoke {kid})");
    println!("{jwt}");
    Ok(())
}

/// A short-lived token for a command-line agency session.
pub async fn session_token(settings: &Settings, agency_id: &str) -> anyhow::Result<String> {
    issue(settings, agency_id, 1).await
}

/// A token of `agency_id` valid for `days`, from the gateway's registry.
pub async fn issue(settings: &Settings, agency_id: &str, days: i64) -> anyhow::Result<String> {
    Ok(credentials::issue_token(&gateway_db(settings).await?, agency_id, days).await?.1)
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> anyhow::Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

/// Runs a credential command.
pub async fn credentials(settings: Settings, command: CredentialsCommand) -> anyhow::Result<()> {
    match command {
        CredentialsCommand::InitCa { dir, host } => {
            std::fs::create_dir_all(&dir)?;
            let ca = certificate::new_ca("fengqiao development CA", 3650)?;
            let now = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
            let server = certificate::issue(&ca.cert_pem, &ca.key_pem, certificate::Role::Server(&host), now, 825)?;
            write(&dir, "ca.pem", &ca.cert_pem)?;
            write(&dir, "ca.key", &ca.key_pem)?;
            write(&dir, "server.pem", &server.cert_pem)?;
            write(&dir, "server.key", &server.key_pem)?;
            println!("wrote ca.pem, ca.key, server.pem, server.key in {}", dir.display());
            println!("serve with: FENGQIAO_AUTH__TLS_CERT_FILE={0}/server.pem FENGQIAO_AUTH__TLS_KEY_FILE={0}/server.key FENGQIAO_AUTH__CLIENT_CA_FILE={0}/ca.pem", dir.display());
            return Ok(());
        }
        CredentialsCommand::IssueCert { agency, dir, days } => {
            let read = |name: &str| {
                std::fs::read_to_string(dir.join(name))
                    .map_err(|e| anyhow::anyhow!("cannot read {name} in {}: {e}; run `init-ca` first", dir.display()))
            };
            let from = time::OffsetDateTime::now_utc() - time::Duration::minutes(5);
            let cert =
                certificate::issue(&read("ca.pem")?, &read("ca.key")?, certificate::Role::Agency(&agency), from, days)?;
            let (id, _) = credentials::register_certificate(&gateway_db(&settings).await?, &cert.der).await?;
            write(&dir, &format!("{agency}.pem"), &cert.cert_pem)?;
            write(&dir, &format!("{agency}.key"), &cert.key_pem)?;
            println!("{id}");
            eprintln!("wrote {agency}.pem and {agency}.key in {}; registered as {id}", dir.display());
            return Ok(());
        }
        _ => {}
    }
    let db = gateway_db(&settings).await?;
    match command {
        CredentialsCommand::List { agency } => {
            let mut conn = db.pool().acquire().await?;
            let now = now_micros();
            for c in store::list(&mut conn, agency.as_deref()).await? {
                let state = match c.revoked_at {
                    Some(at) => format!("revoked {} ({})", local_time(at / 1_000_000), c.revoked_reason),
                    None if c.not_after < now => "expired".to_string(),
                    None => "active".to_string(),
                };
                println!(
                    "{:<36} {:<24} {:<11} until {}  {state}",
                    c.credential_id,
                    c.agency_id,
                    c.kind,
                    local_time(c.not_after / 1_000_000)
                );
            }
        }
        CredentialsCommand::Revoke { credential_id, reason } => {
            anyhow::ensure!(!reason.trim().is_empty(), "--reason is required");
            let mut conn = db.writer().acquire().await?;
            if !store::revoke(&mut conn, &credential_id, &reason, now_micros()).await? {
                anyhow::bail!("no active credential {credential_id}; see `fengqiao credentials list`");
            }
            println!("revoked {credential_id}");
        }
        CredentialsCommand::AddKey { agency, public_key, days } => {
            let pem = std::fs::read_to_string(&public_key)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", public_key.display()))?;
            println!("{}", credentials::register_key(&db, &agency, &pem, days).await?);
        }
        CredentialsCommand::RegisterCert { cert } => {
            use rustls::pki_types::pem::PemObject;
            let der = rustls::pki_types::CertificateDer::from_pem_file(&cert)
                .map_err(|e| anyhow::anyhow!("{} holds no PEM certificate: {e}", cert.display()))?;
            let (id, agency) = credentials::register_certificate(&db, &der).await?;
            println!("{id}");
            eprintln!("registered for {agency}");
        }
        CredentialsCommand::InitCa { .. } | CredentialsCommand::IssueCert { .. } => unreachable!("handled above"),
    }
    Ok(())
}

/// Runs an agency registry command.
pub async fn agencies(settings: Settings, command: AgenciesCommand) -> anyhow::Result<()> {
    let db = gateway_db(&settings).await?;
    let mut conn = db.writer().acquire().await?;
    match command {
        AgenciesCommand::List => {
            for (a, disabled) in store::agencies(&mut conn).await? {
                let state = if disabled { "disabled" } else { "active" };
                println!("{:<26} {:<12} {:<10} {state}  {}", a.agency_id, a.kind, a.division_code, a.name);
            }
        }
        AgenciesCommand::Add { id, kind, name, division } => {
            let kinds = fengqiao_gateway::scopes::KINDS;
            anyhow::ensure!(kinds.contains(&kind.as_str()), "--kind must be one of {}", kinds.join(", "));
            let agency = fengqiao_gateway::store::Agency { agency_id: id.clone(), kind, name, division_code: division };
            if !store::add_agency(&mut conn, &agency, now_micros()).await? {
                anyhow::bail!("agency {id} is already registered");
            }
            println!("registered {id}");
        }
        AgenciesCommand::Disable { id } => {
            if !store::disable_agency(&mut conn, &id, now_micros()).await? {
                anyhow::bail!("no active agency {id}; see `fengqiao agencies list`");
            }
            println!("disabled {id}");
        }
    }
    Ok(())
}

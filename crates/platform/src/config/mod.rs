//! Layered configuration: built-in defaults → a TOML file → `FENGQIAO_…`
//! environment variables, validated at start. Errors name the key and say what
//! is allowed; secrets never print.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;

mod events;
mod sections;

pub use events::*;
use secrecy::{ExposeSecret, SecretString};
pub use sections::*;
use serde::{Deserialize, Serialize};

/// Everything a fengqiao process reads at start.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Where standalone mode keeps its SQLite files (one per component).
    pub data_dir: PathBuf,
    /// The database every component connects to.
    pub database: DatabaseSettings,
    /// The event bus.
    pub bus: BusSettings,
    /// Logs and traces.
    pub telemetry: TelemetrySettings,
    /// The transactional outbox relay.
    pub outbox: OutboxSettings,
    /// How agency systems prove who they are.
    pub auth: AuthSettings,
    /// The agency API's memory and limits.
    pub agency_api: AgencyApiSettings,
    /// Keys that protect personal data at rest.
    pub personal_data: PersonalDataSettings,
    /// Intake's rules: related cases and risk levels (per jurisdiction).
    pub intake_rules: IntakeRules,
    /// A TOML file of routing rules (see services/routing/rules/default.toml);
    /// unset for the built-in defaults. Re-read when it changes.
    pub routing_rules_file: Option<PathBuf>,
    /// Seconds an organisation has to accept a referral before routing
    /// cancels it and escalates the case one level up.
    pub routing_acceptance_timeout_secs: u64,
    /// The periods of the clocks.
    pub clocks: ClockRegimes,
    /// Supervision sweeps and automatic leader ownership.
    pub supervision: SupervisionSettings,
    /// Per-case subsidy amounts (以案定补).
    pub subsidy: SubsidySettings,
    /// How the console reaches the gateway as the mediation centre.
    pub console_access: ConsoleAccessSettings,
    /// The court that judicially confirms agreements of cases no court delegated:
    /// a division-code prefix to the court's agency id (the basic court of the
    /// place, 人民调解法 art. 33); the longest matching prefix wins.
    pub confirmation_courts: std::collections::BTreeMap<String, String>,
    /// Seconds a stopping process waits for in-flight calls and the outbox to drain.
    pub shutdown_grace_secs: u64,
    /// Intake's own settings.
    pub intake: ComponentSettings,
    /// Routing's own settings.
    pub routing: ComponentSettings,
    /// Mediation's own settings.
    pub mediation: ComponentSettings,
    /// Court linkage's own settings.
    pub court_linkage: ComponentSettings,
    /// Petition linkage's own settings.
    pub petition_linkage: ComponentSettings,
    /// The console's own settings (the staff's web workplace).
    pub console: ComponentSettings,
    /// The gateway's own settings.
    pub gateway: ComponentSettings,
    /// Load the demo data (Kongtong district's directory, demo agencies):
    /// unset means yes in standalone mode and no in distributed mode.
    pub demo_data: Option<bool>,
    /// Run mode, set by the command (not configurable).
    #[serde(skip)]
    pub standalone: bool,
}

pub(crate) fn serialize_secret<S: serde::Serializer>(_: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    // Never write a secret back out (defaults are built from an empty one).
    s.serialize_str("")
}

fn component(port: u16) -> ComponentSettings {
    ComponentSettings { listen: SocketAddr::from(([127, 0, 0, 1], port)), endpoint: String::new() }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("fengqiao-data"),
            database: DatabaseSettings::default(),
            bus: BusSettings::default(),
            telemetry: TelemetrySettings::default(),
            outbox: OutboxSettings::default(),
            auth: AuthSettings::default(),
            agency_api: AgencyApiSettings::default(),
            personal_data: PersonalDataSettings::default(),
            intake_rules: IntakeRules::default(),
            routing_rules_file: None,
            routing_acceptance_timeout_secs: 86_400,
            clocks: ClockRegimes::default(),
            supervision: SupervisionSettings::default(),
            subsidy: SubsidySettings::default(),
            console_access: ConsoleAccessSettings::default(),
            confirmation_courts: Default::default(),
            shutdown_grace_secs: 10,
            gateway: component(50050),
            intake: component(50051),
            routing: component(50052),
            mediation: component(50053),
            court_linkage: component(50054),
            petition_linkage: component(50055),
            console: component(50056),
            demo_data: None,
            standalone: false,
        }
    }
}

/// A configuration problem, naming the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file, or an environment variable, could not be read as settings.
    #[error("configuration: {0} (see the configuration reference in README.md)")]
    Parse(String),
    /// A value was read but is not allowed.
    #[error("configuration key `{key}`: {problem}")]
    Invalid {
        /// The key, dotted (`bus.max_deliveries`); as an environment variable
        /// `FENGQIAO_BUS__MAX_DELIVERIES`.
        key: &'static str,
        /// What is wrong and what is allowed.
        problem: String,
    },
}

/// Settings that sit at the top level, set as `FENGQIAO_<NAME>`.
const TOP_LEVEL_SCALARS: [&str; 5] =
    ["data_dir", "shutdown_grace_secs", "demo_data", "routing_rules_file", "routing_acceptance_timeout_secs"];

impl Settings {
    /// Reads defaults, then `file` (if given), then `FENGQIAO_…` variables
    /// (`__` separates levels: `FENGQIAO_DATABASE__URL`, `FENGQIAO_INTAKE__LISTEN`),
    /// and validates the result.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::Parse(format!(
                    "the file {} does not exist; pass an existing TOML file or none",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file(file));
        }
        // Variables without `__` that name no top-level setting (FENGQIAO_CONFIG,
        // FENGQIAO_BIN of the local scripts, FENGQIAO_TEST_… of the tests) are
        // not settings; a section typo such as FENGQIAO_DATABSE__URL still fails.
        let env = Env::prefixed("FENGQIAO_")
            .filter(|key| {
                key.as_str().contains("__") || TOP_LEVEL_SCALARS.contains(&key.as_str().to_lowercase().as_str())
            })
            .split("__");
        figment = figment.merge(env);
        let settings: Settings = figment.extract().map_err(|e| ConfigError::Parse(e.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = self.database.url.expose_secret();
        if !url.is_empty() && !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
            return Err(ConfigError::Invalid {
                key: "database.url",
                problem: "must start with postgres:// (distributed mode) or be empty (standalone SQLite)".into(),
            });
        }
        if self.database.max_connections == 0 {
            return Err(invalid("database.max_connections", "must be at least 1"));
        }
        let bus = &self.bus;
        if !bus.nats_url.is_empty() && !bus.nats_url.starts_with("nats://") {
            return Err(invalid("bus.nats_url", "must start with nats:// or be empty (in-process bus)"));
        }
        if bus.max_deliveries == 0 {
            return Err(invalid("bus.max_deliveries", "must be at least 1"));
        }
        if bus.consumer_lanes.is_some_and(|lanes| lanes == 0 || lanes > 1024) {
            return Err(invalid("bus.consumer_lanes", "must be between 1 and 1024"));
        }
        if bus.consumer_batch == 0 || bus.consumer_batch > 1024 {
            return Err(invalid("bus.consumer_batch", "must be between 1 and 1024"));
        }
        if bus.stream.is_empty() || !bus.stream.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(invalid("bus.stream", "must be non-empty letters, digits, '_' or '-'"));
        }
        if bus.retry_backoff_max_ms < bus.retry_backoff_ms {
            return Err(invalid("bus.retry_backoff_max_ms", "must be at least bus.retry_backoff_ms"));
        }
        if bus.ack_wait_secs * 1000 <= bus.retry_backoff_max_ms {
            return Err(invalid(
                "bus.ack_wait_secs",
                "must be longer than bus.retry_backoff_max_ms, or the broker redelivers events still being retried",
            ));
        }
        if bus.stream_max_age_days == 0 {
            return Err(invalid("bus.stream_max_age_days", "must be at least 1"));
        }
        if bus.inbox_keep_days <= bus.stream_max_age_days {
            return Err(invalid(
                "bus.inbox_keep_days",
                "must be longer than bus.stream_max_age_days, or an event the broker still holds could be applied twice",
            ));
        }
        let subsidy = &self.subsidy;
        if subsidy.tiers_fen.iter().chain(subsidy.jurisdictions.values().flatten()).any(|a| *a < 0) {
            return Err(invalid("subsidy", "amounts are fen, 0 or more"));
        }
        if subsidy.jurisdictions.keys().any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
            return Err(invalid("subsidy.jurisdictions", "keys are division-code prefixes such as 620802"));
        }
        let auth = &self.auth;
        if auth.tls_cert_file.is_empty() != auth.tls_key_file.is_empty() {
            return Err(invalid("auth.tls_cert_file", "and auth.tls_key_file are set together or not at all"));
        }
        if !auth.client_ca_file.is_empty() && auth.tls_cert_file.is_empty() {
            return Err(invalid("auth.client_ca_file", "needs TLS: set auth.tls_cert_file and auth.tls_key_file"));
        }
        let id = &self.personal_data.key_id;
        if id.is_empty() || id.len() > 16 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(invalid("personal_data.key_id", "must be 1 to 16 letters or digits"));
        }
        if self.intake_rules.related_window_days == 0 || self.intake_rules.related_window_days > 3650 {
            return Err(invalid("intake_rules.related_window_days", "must be between 1 and 3650"));
        }
        if self.intake_rules.group_headcount < 2 {
            return Err(invalid("intake_rules.group_headcount", "must be at least 2"));
        }
        for c in &self.intake_rules.heightened_categories {
            let known =
                fengqiao_proto::fengqiao::common::v1::Category::from_str_name(&format!("CATEGORY_{c}")).is_some();
            if !known || c == "UNSPECIFIED" {
                return Err(ConfigError::Invalid {
                    key: "intake_rules.heightened_categories",
                    problem: format!("`{c}` is no category; use names such as LABOUR or MEDICAL"),
                });
            }
        }
        if self.routing_acceptance_timeout_secs == 0 {
            return Err(invalid("routing_acceptance_timeout_secs", "must be at least 1 second"));
        }
        if self.outbox.batch_size == 0 || self.outbox.batch_size > 10_000 {
            return Err(invalid("outbox.batch_size", "must be between 1 and 10000"));
        }
        for (name, linger) in
            [("bus.consumer_linger_ms", self.bus.consumer_linger_ms), ("outbox.linger_ms", self.outbox.linger_ms)]
        {
            if linger.is_some_and(|ms| ms > 1000) {
                return Err(invalid(name, "must be at most 1000 (a second)"));
            }
        }
        if self.outbox.poll_interval_ms == 0 {
            return Err(invalid("outbox.poll_interval_ms", "must be at least 1"));
        }
        if self.outbox.keep_sent_days == 0 {
            return Err(invalid("outbox.keep_sent_days", "must be at least 1 (sent events are kept a day at least)"));
        }
        if self.outbox.keep_sent_days > self.bus.inbox_keep_days {
            return Err(invalid(
                "outbox.keep_sent_days",
                "must not exceed bus.inbox_keep_days: an event re-driven from the outbox must still find its receipts",
            ));
        }
        if let Some((key, problem)) = self.console_access.oidc.problem() {
            return Err(invalid(key, problem));
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.telemetry.log_filter) {
            return Err(ConfigError::Invalid {
                key: "telemetry.log_filter",
                problem: format!("{e}; use e.g. `info` or `warn,fengqiao_intake=debug`"),
            });
        }
        Ok(())
    }

    /// The settings section of the component called `name`.
    pub fn component(&self, name: &str) -> Option<&ComponentSettings> {
        self.components().into_iter().find(|(n, _)| *n == name).map(|(_, c)| c)
    }

    /// Every component's section with its name.
    pub fn components(&self) -> [(&'static str, &ComponentSettings); 7] {
        [
            ("intake", &self.intake),
            ("routing", &self.routing),
            ("mediation", &self.mediation),
            ("court-linkage", &self.court_linkage),
            ("petition-linkage", &self.petition_linkage),
            ("console", &self.console),
            ("gateway", &self.gateway),
        ]
    }

    /// The settings section of the component called `name`, to change it.
    pub fn component_mut(&mut self, name: &str) -> Option<&mut ComponentSettings> {
        Some(match name {
            "intake" => &mut self.intake,
            "routing" => &mut self.routing,
            "mediation" => &mut self.mediation,
            "court-linkage" => &mut self.court_linkage,
            "petition-linkage" => &mut self.petition_linkage,
            "console" => &mut self.console,
            "gateway" => &mut self.gateway,
            _ => return None,
        })
    }

    /// A lazily connecting gRPC channel to the component called `name`,
    /// carrying the caller's trace.
    pub fn channel_to(&self, name: &str) -> anyhow::Result<crate::grpc_trace::TracedChannel> {
        self.channel_trusting(name, "", "")
    }

    /// A channel to component `name` at its endpoint; over TLS when the
    /// endpoint is `https://…`, trusting the CA in `ca_file` (PEM), which the
    /// setting `ca_key` names in errors.
    pub fn channel_trusting(
        &self,
        name: &str,
        ca_file: &str,
        ca_key: &str,
    ) -> anyhow::Result<crate::grpc_trace::TracedChannel> {
        let url = self.component(name).ok_or_else(|| anyhow::anyhow!("no component {name}"))?.endpoint();
        let mut endpoint = tonic::transport::Endpoint::from_shared(url.clone())
            .map_err(|e| anyhow::anyhow!("{name}.endpoint `{url}` is not a URL ({e}); set it like http://host:port"))?;
        if url.starts_with("https://") {
            if ca_file.is_empty() {
                let key = if ca_key.is_empty() { "the CA file" } else { ca_key };
                anyhow::bail!(
                    "{name}.endpoint `{url}` is https: set {key} to the CA (PEM) that signed {name}'s certificate"
                );
            }
            let pem = std::fs::read(ca_file).map_err(|e| {
                anyhow::anyhow!("cannot read {ca_key} `{ca_file}` ({e}); mount the CA's PEM file there")
            })?;
            let tls =
                tonic::transport::ClientTlsConfig::new().ca_certificate(tonic::transport::Certificate::from_pem(pem));
            endpoint = endpoint.tls_config(tls).map_err(|e| anyhow::anyhow!("TLS to {name} at `{url}`: {e}"))?;
        }
        Ok(crate::grpc_trace::TracedChannel::new(
            endpoint
                .connect_timeout(std::time::Duration::from_secs(5))
                .timeout(std::time::Duration::from_secs(30))
                .connect_lazy(),
        ))
    }

    /// True when demo data should be loaded (see `demo_data`).
    pub fn seed_demo(&self) -> bool {
        self.demo_data.unwrap_or(self.standalone)
    }

    /// True when the database is PostgreSQL (distributed mode).
    pub fn uses_postgres(&self) -> bool {
        !self.database.url.expose_secret().is_empty()
    }
}

fn invalid(key: &'static str, problem: &str) -> ConfigError {
    ConfigError::Invalid { key, problem: problem.to_string() }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_file_which_overrides_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("fq.toml", "[bus]\nmax_deliveries = 7\n[intake]\nlisten = \"127.0.0.1:6000\"\n")?;
            jail.set_env("FENGQIAO_INTAKE__LISTEN", "127.0.0.1:6001");
            let s = Settings::load(Some(Path::new("fq.toml"))).expect("valid");
            assert_eq!(s.bus.max_deliveries, 7);
            assert_eq!(s.intake.listen.port(), 6001);
            assert_eq!(s.routing.listen.port(), 50052);
            Ok(())
        });
    }

    #[test]
    fn subsidy_amounts_come_from_the_longest_matching_jurisdiction() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "fq.toml",
                "[subsidy.jurisdictions]\n620802 = [1, 2, 3, 4]\n620802001 = [10, 20, 30, 40]\n",
            )?;
            jail.set_env("FENGQIAO_SUBSIDY__TIERS_FEN", "[100, 200, 300, 400]");
            let s = Settings::load(Some(Path::new("fq.toml"))).expect("valid");
            assert_eq!(s.subsidy.amount_fen(4, "620802001001"), 40);
            assert_eq!(s.subsidy.amount_fen(2, "620802002001"), 2);
            assert_eq!(s.subsidy.amount_fen(1, "620803001001"), 100);
            jail.set_env("FENGQIAO_SUBSIDY__TIERS_FEN", "[100, -200, 300, 400]");
            let e = Settings::load(Some(Path::new("fq.toml"))).unwrap_err().to_string();
            assert!(e.contains("subsidy"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn busy_lanes_and_relays_linger_on_nats_only_unless_set() {
        use std::time::Duration;
        figment::Jail::expect_with(|jail| {
            let s = Settings::load(None).expect("valid");
            assert_eq!(
                (s.bus.linger_on("nats"), s.bus.linger_on("memory")),
                (Duration::from_millis(50), Duration::ZERO)
            );
            jail.set_env("FENGQIAO_BUS__CONSUMER_LINGER_MS", "0");
            let s = Settings::load(None).expect("valid");
            assert_eq!(s.bus.linger_on("nats"), Duration::ZERO);
            assert_eq!(
                (s.outbox.linger_on("nats"), s.outbox.linger_on("memory")),
                (Duration::from_millis(50), Duration::ZERO)
            );
            jail.set_env("FENGQIAO_OUTBOX__LINGER_MS", "7");
            let s = Settings::load(None).expect("valid");
            assert_eq!(s.outbox.linger_on("memory"), Duration::from_millis(7));
            jail.set_env("FENGQIAO_BUS__CONSUMER_LINGER_MS", "5000");
            let err = Settings::load(None).unwrap_err().to_string();
            assert!(err.contains("bus.consumer_linger_ms"), "{err}");
            jail.set_env("FENGQIAO_BUS__CONSUMER_LINGER_MS", "0");
            jail.set_env("FENGQIAO_OUTBOX__LINGER_MS", "1001");
            let err = Settings::load(None).unwrap_err().to_string();
            assert!(err.contains("outbox.linger_ms"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn consumers_run_one_lane_on_sqlite_and_four_on_postgres_unless_set() {
        use crate::db::Backend;
        figment::Jail::expect_with(|jail| {
            let s = Settings::load(None).expect("valid");
            assert_eq!((s.bus.lanes_on(Backend::Sqlite), s.bus.lanes_on(Backend::Postgres)), (1, 4));
            jail.set_env("FENGQIAO_BUS__CONSUMER_LANES", "2");
            let s = Settings::load(None).expect("valid");
            assert_eq!((s.bus.lanes_on(Backend::Sqlite), s.bus.lanes_on(Backend::Postgres)), (2, 2));
            jail.set_env("FENGQIAO_BUS__CONSUMER_LANES", "0");
            let err = Settings::load(None).unwrap_err().to_string();
            assert!(err.contains("bus.consumer_lanes"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn a_bad_value_names_its_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("FENGQIAO_BUS__MAX_DELIVERIES", "0");
            let err = Settings::load(None).unwrap_err().to_string();
            assert!(err.contains("bus.max_deliveries"), "{err}");
            jail.set_env("FENGQIAO_BUS__MAX_DELIVERIES", "lots");
            let err = Settings::load(None).unwrap_err().to_string();
            assert!(err.to_lowercase().contains("bus.max_deliveries"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn inbox_receipts_kept_no_longer_than_the_broker_keeps_events_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("FENGQIAO_BUS__STREAM_MAX_AGE_DAYS", "20");
            let err = Settings::load(None).unwrap_err().to_string();
            assert!(err.contains("bus.inbox_keep_days") && err.contains("applied twice"), "{err}");
            jail.set_env("FENGQIAO_BUS__INBOX_KEEP_DAYS", "21");
            Settings::load(None).expect("receipts outlive the broker's copies");
            jail.set_env("FENGQIAO_OUTBOX__KEEP_SENT_DAYS", "0");
            let err = Settings::load(None).unwrap_err().to_string();
            assert!(err.contains("outbox.keep_sent_days"), "{err}");
            jail.set_env("FENGQIAO_OUTBOX__KEEP_SENT_DAYS", "22");
            let err = Settings::load(None).unwrap_err().to_string();
            assert!(err.contains("outbox.keep_sent_days") && err.contains("receipts"), "{err}");
            Ok(())
        });
    }

    #[tokio::test]
    async fn an_https_endpoint_needs_the_ca_to_trust_and_says_which_setting_gives_it() {
        let mut settings = Settings::default();
        settings.component_mut("gateway").unwrap().endpoint = "https://localhost:50051".into();
        let err = settings.channel_trusting("gateway", "", "console_access.gateway_ca_file").unwrap_err().to_string();
        assert!(err.contains("console_access.gateway_ca_file") && err.contains("https"), "{err}");
        let err = settings.channel_trusting("gateway", "/nowhere/ca.pem", "console_access.gateway_ca_file");
        assert!(err.unwrap_err().to_string().contains("/nowhere/ca.pem"));
        settings.component_mut("gateway").unwrap().endpoint = "http://127.0.0.1:50051".into();
        settings.channel_trusting("gateway", "", "console_access.gateway_ca_file").expect("plain http needs no CA");
    }

    #[test]
    fn identity_platform_sign_in_needs_https_a_client_and_the_callback_url() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("FENGQIAO_CONSOLE_ACCESS__OIDC__ISSUER", "http://idp.example.gov.cn/realms/gansu");
            let err = Settings::load(None).unwrap_err().to_string();
            assert!(err.contains("console_access.oidc.issuer") && err.contains("https"), "{err}");
            jail.set_env("FENGQIAO_CONSOLE_ACCESS__OIDC__ISSUER", "http://localhost.evil.example/realm");
            let err = Settings::load(None).unwrap_err().to_string();
            assert!(err.contains("console_access.oidc.issuer"), "a look-alike of loopback is no loopback: {err}");
            jail.set_env("FENGQIAO_CONSOLE_ACCESS__OIDC__ISSUER", "https://idp.example.gov.cn/realms/gansu");
            let err = Settings::load(None).unwrap_err().to_string();
            assert!(err.contains("console_access.oidc.client_id"), "{err}");
            jail.set_env("FENGQIAO_CONSOLE_ACCESS__OIDC__CLIENT_ID", "fengqiao-console");
            jail.set_env("FENGQIAO_CONSOLE_ACCESS__OIDC__REDIRECT_URL", "https://console.example/callback");
            let err = Settings::load(None).unwrap_err().to_string();
            assert!(err.contains("console_access.oidc.redirect_url") && err.contains("/login/oidc/callback"), "{err}");
            jail.set_env("FENGQIAO_CONSOLE_ACCESS__OIDC__REDIRECT_URL", "https://console.example/login/oidc/callback");
            let s = Settings::load(None).expect("a complete identity platform setting");
            assert!(s.console_access.oidc.enabled());
            jail.set_env("FENGQIAO_CONSOLE_ACCESS__OIDC__ISSUER", "http://127.0.0.1:8080/realms/trial");
            Settings::load(None).expect("plain http on this machine's loopback, for trials");
            Ok(())
        });
    }

    #[test]
    fn other_fengqiao_variables_are_not_settings_but_a_section_typo_fails() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("FENGQIAO_BIN", "/usr/local/bin/fengqiao");
            jail.set_env("FENGQIAO_DEMO_DATA", "true");
            let s = Settings::load(None).expect("FENGQIAO_BIN is not a setting");
            assert_eq!(s.demo_data, Some(true));
            jail.set_env("FENGQIAO_DATABSE__URL", "postgres://x/y");
            let err = Settings::load(None).unwrap_err().to_string();
            assert!(err.to_lowercase().contains("databse"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn an_unknown_key_is_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("fq.toml", "[bus]\nmax_delivery = 3\n")?;
            let err = Settings::load(Some(Path::new("fq.toml"))).unwrap_err().to_string();
            assert!(err.contains("max_delivery"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn the_database_password_never_prints() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("FENGQIAO_DATABASE__URL", "postgres://fq:hunter2@db/fq");
            let s = Settings::load(None).expect("valid");
            assert!(s.uses_postgres());
            assert!(!format!("{s:?}").contains("hunter2"));
            assert!(!serde_json::to_string(&s).unwrap().contains("hunter2"));
            Ok(())
        });
    }
}

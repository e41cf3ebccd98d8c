//! The sections of the settings and their defaults.

use std::net::SocketAddr;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::serialize_secret;

/// Where the database is.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `postgres://user:password@host:port/db` for distributed mode; empty for a
    /// SQLite file per component under `data_dir`. Treated as a secret.
    #[serde(serialize_with = "serialize_secret")]
    pub url: SecretString,
    /// Connections per component pool.
    pub max_connections: u32,
}

/// Log format.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line, for log collectors.
    Json,
    /// Human-readable lines.
    Pretty,
}

/// Logs and traces.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySettings {
    /// `json` or `pretty`.
    pub log_format: LogFormat,
    /// A tracing filter such as `info` or `info,fengqiao_platform=debug`.
    pub log_filter: String,
    /// OTLP/gRPC endpoint of an OpenTelemetry collector (e.g.
    /// `http://127.0.0.1:4317`); empty to export no traces.
    pub otlp_endpoint: String,
    /// Where the process serves Prometheus metrics (`GET /metrics`), e.g.
    /// `0.0.0.0:9464`; empty for none.
    pub metrics_listen: String,
}

/// Agency authentication at the gateway: TLS, and client certificates for
/// mutual TLS. Tokens are verified with keys in the gateway's registry.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// The gateway's certificate chain, PEM; empty to serve plaintext (development).
    pub tls_cert_file: String,
    /// The gateway's private key, PEM.
    pub tls_key_file: String,
    /// The CA whose client certificates authenticate agencies (mutual TLS);
    /// empty to accept tokens only.
    pub client_ca_file: String,
}

/// Keys that protect personal data (resident ids, phone numbers) at rest.
/// Empty in standalone mode: keys are generated once into `data_dir`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PersonalDataSettings {
    /// 32 random bytes, base64: the AES-256-GCM key new values are sealed with.
    #[serde(serialize_with = "serialize_secret")]
    pub key: SecretString,
    /// The id stored with every value `key` seals, so keys can rotate.
    pub key_id: String,
    /// Earlier keys still needed to open old values: `id=base64,id=base64`.
    #[serde(serialize_with = "serialize_secret")]
    pub previous_keys: SecretString,
    /// 32 random bytes, base64: the HMAC-SHA-256 key of the hashes that find
    /// the same person across cases without decrypting anything.
    #[serde(serialize_with = "serialize_secret")]
    pub hash_key: SecretString,
}

impl Default for PersonalDataSettings {
    fn default() -> Self {
        Self {
            key: SecretString::from(String::new()),
            key_id: "k1".into(),
            previous_keys: SecretString::from(String::new()),
            hash_key: SecretString::from(String::new()),
        }
    }
}

/// Intake's rules, configurable per jurisdiction.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntakeRules {
    /// Days within which a case of the same party, with the same place or
    /// kind of dispute, is linked as related.
    pub related_window_days: u32,
    /// People involved from which a dispute is a group dispute (ORANGE).
    pub group_headcount: u32,
    /// Words in the narrative that make a case RED: threats of violence or
    /// self-harm, mass incidents, petitions to Beijing.
    pub red_keywords: Vec<String>,
    /// The amount in dispute, in fen, from which a case is YELLOW.
    pub large_amount_fen: i64,
    /// Categories that are YELLOW by nature (Category names without the prefix).
    pub heightened_categories: Vec<String>,
}

impl Default for IntakeRules {
    fn default() -> Self {
        let words = [
            "杀",
            "砍",
            "同归于尽",
            "报复",
            "自杀",
            "跳楼",
            "喝农药",
            "放火",
            "炸",
            "进京",
            "赴京",
            "北京上访",
            "聚集",
            "堵路",
            "围堵",
        ];
        Self {
            related_window_days: 30,
            group_headcount: 5,
            red_keywords: words.iter().map(|w| w.to_string()).collect(),
            large_amount_fen: 100_000_000,
            heightened_categories: ["EXPROPRIATION", "LABOUR", "MEDICAL"].iter().map(|c| c.to_string()).collect(),
        }
    }
}

/// One component's own settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentSettings {
    /// Address its gRPC server listens on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// URL other components use to call it (e.g. `http://intake:50051`);
    /// empty means `http://<listen>`.
    #[serde(default)]
    pub endpoint: String,
}

impl ComponentSettings {
    /// The URL to call it at.
    pub fn endpoint(&self) -> String {
        if self.endpoint.is_empty() {
            format!("http://{}", self.listen)
        } else {
            self.endpoint.clone()
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self { url: SecretString::from(String::new()), max_connections: 8 }
    }
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            log_format: LogFormat::Pretty,
            log_filter: "info".into(),
            otlp_endpoint: String::new(),
            metrics_listen: "127.0.0.1:9464".into(),
        }
    }
}

/// The periods of the clocks (DESIGN.md §3.4): `unit:n` with unit `seconds`
/// (drills only), `hours`, `days`, `working_days` or `months`, or `same_day`.
/// Each applies everywhere unless `jurisdictions` overrides it for a division.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClockRegimes {
    /// People's mediation, from acceptance to conclusion (人民调解工作若干规定).
    pub peoples_mediation: String,
    /// Pre-litigation delegated mediation.
    pub pre_litigation: String,
    /// In-litigation entrusted mediation (ordinary procedure).
    pub in_litigation: String,
    /// In-litigation entrusted mediation (simplified procedure).
    pub in_litigation_simplified: String,
    /// The parties' joint application for judicial confirmation, from the agreement taking effect.
    pub confirmation_application: String,
    /// The court's acceptance of a confirmation application.
    pub confirmation_acceptance: String,
    /// The court's decision on an accepted confirmation application.
    pub confirmation_decision: String,
    /// A petition bureau's decision on accepting a petition.
    pub petition_acceptance: String,
    /// Handling an accepted petition.
    pub petition_handling: String,
    /// A petitioner's request for review (复查) or second review (复核).
    pub petition_review_request: String,
    /// Answering a review request.
    pub petition_review_answer: String,
    /// Feedback to a police station after its hand-off.
    pub police_feedback: String,
    /// Response to a RED case.
    pub risk_red: String,
    /// Response to an ORANGE case.
    pub risk_orange: String,
    /// Response to a YELLOW case.
    pub risk_yellow: String,
    /// Response to a BLUE case.
    pub risk_blue: String,
    /// A leader's acknowledgement of a case they were made owner of (包案).
    pub owner_acknowledgement: String,
    /// An organisation's response to a supervision notice (督办), unless the notice says otherwise.
    pub supervision_response: String,
    /// How far both parties' consent may extend pre-litigation mediation, in all,
    /// counted from its first deadline (local rules: 30 days more at most).
    pub pre_litigation_extension_cap: String,
    /// How far approval may extend a petition's handling, once (信访工作条例: 30 days).
    pub petition_handling_extension_cap: String,
    /// A running clock warns once when this share of its span (percent) is left.
    pub warning_percent: u32,
    /// Overrides per jurisdiction: a division-code prefix (e.g. `620802`) to
    /// the keys above that differ there; the longest matching prefix wins.
    pub jurisdictions: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
    /// Holiday calendar files (CSV as in `data/calendars`) read at start on top
    /// of the built-in national calendar: a new year's calendar or a local change
    /// needs no release.
    pub calendar_files: Vec<String>,
}

impl Default for ClockRegimes {
    fn default() -> Self {
        Self {
            peoples_mediation: "months:1".into(),
            pre_litigation: "days:30".into(),
            in_litigation: "days:15".into(),
            in_litigation_simplified: "days:7".into(),
            confirmation_application: "days:30".into(),
            confirmation_acceptance: "days:3".into(),
            confirmation_decision: "days:15".into(),
            petition_acceptance: "days:15".into(),
            petition_handling: "days:60".into(),
            petition_review_request: "days:30".into(),
            petition_review_answer: "days:30".into(),
            police_feedback: "hours:24".into(),
            risk_red: "same_day".into(),
            risk_orange: "days:1".into(),
            risk_yellow: "days:2".into(),
            risk_blue: "days:3".into(),
            owner_acknowledgement: "days:1".into(),
            supervision_response: "days:3".into(),
            pre_litigation_extension_cap: "days:30".into(),
            petition_handling_extension_cap: "days:30".into(),
            warning_percent: 20,
            jurisdictions: Default::default(),
            calendar_files: Vec::new(),
        }
    }
}

/// Supervision sweeps and automatic leader ownership.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SupervisionSettings {
    /// A referral with no state change for this long (seconds) raises a STUCK_CASE alarm.
    pub stuck_after_secs: u64,
    /// Leaders who own RED cases automatically: a division-code prefix to a
    /// leader's staff id; the longest matching prefix wins. Without one, a RED
    /// case raises RED_UNOWNED until a supervisor assigns an owner.
    pub red_case_owners: std::collections::BTreeMap<String, String>,
}

impl Default for SupervisionSettings {
    fn default() -> Self {
        Self { stuck_after_secs: 7 * 24 * 3600, red_case_owners: Default::default() }
    }
}

/// Per-case subsidy amounts (以案定补) by difficulty tier, in fen.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubsidySettings {
    /// Amounts of tiers 1 (simple) to 4 (major and difficult), in fen.
    pub tiers_fen: [i64; 4],
    /// Overrides per jurisdiction: a division-code prefix (e.g. `620802`) to its
    /// four amounts; the longest matching prefix wins.
    pub jurisdictions: std::collections::BTreeMap<String, [i64; 4]>,
}

impl Default for SubsidySettings {
    fn default() -> Self {
        Self { tiers_fen: [5_000, 20_000, 50_000, 100_000], jurisdictions: Default::default() }
    }
}

impl SubsidySettings {
    /// The amount of `tier` (1–4) for a case in `division`.
    pub fn amount_fen(&self, tier: u32, division: &str) -> i64 {
        let amounts = self
            .jurisdictions
            .iter()
            .filter(|(prefix, _)| division.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map_or(&self.tiers_fen, |(_, a)| a);
        let index = tier.clamp(1, 4) as usize - 1;
        amounts[index]
    }
}

/// The agency API at the gateway: how long it remembers, and how much it takes.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgencyApiSettings {
    /// Hours an Idempotency-Key and its first answer are kept.
    pub idempotency_hours: u64,
    /// Days audit entries are kept (the chain's anchor moves past removed ones).
    pub audit_retention_days: u64,
    /// Calls per second one agency may make, sustained (more answer RESOURCE_EXHAUSTED).
    pub rate_per_second: u32,
    /// Calls one agency may make at once above its rate, after a quiet spell.
    pub rate_burst: u32,
    /// Calls of one agency in progress at once (more answer RESOURCE_EXHAUSTED).
    pub max_concurrent_calls: u32,
    /// Agency calls in progress at once across all agencies; more are shed
    /// with UNAVAILABLE (health checks are never shed).
    pub max_in_flight: usize,
    /// The largest request message, in bytes, on both faces.
    pub max_message_bytes: usize,
    /// The longest a unary call may run, in seconds; a shorter `grpc-timeout`
    /// from the caller wins. Past it the call answers DEADLINE_EXCEEDED.
    pub deadline_secs: u64,
    /// Attempts at one callback delivery before it is dead-lettered.
    pub callback_max_attempts: u32,
    /// The wait after a callback's first failed attempt, in milliseconds; it
    /// doubles with each further failure, up to ten minutes.
    pub callback_backoff_ms: u64,
    /// How long a callback receiver may take to answer, in seconds.
    pub callback_timeout_secs: u64,
    /// Allow callback URLs over plain http:// (test benches only; never in production).
    pub callback_allow_http: bool,
    /// Wrong verification codes for one case number before look-ups of it are
    /// refused for 15 minutes.
    pub lookup_max_failures: u32,
}

impl Default for AgencyApiSettings {
    fn default() -> Self {
        Self {
            idempotency_hours: 24,
            audit_retention_days: 180,
            rate_per_second: 500,
            rate_burst: 1000,
            max_concurrent_calls: 100,
            max_in_flight: 1024,
            max_message_bytes: 4 * 1024 * 1024,
            deadline_secs: 30,
            callback_max_attempts: 12,
            callback_backoff_ms: 1000,
            callback_timeout_secs: 10,
            callback_allow_http: false,
            lookup_max_failures: 5,
        }
    }
}

/// The console's own settings: how it reaches the gateway as the county's
/// mediation centre (an agency of kind `centre`: to register walk-in, grid
/// and hotline disputes and to look up a case's progress for a party), and
/// how it hands out its session cookie.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleAccessSettings {
    /// The centre's agency id in the gateway's registry.
    pub agency: String,
    /// A token of that agency (`fengqiao token <agency>`); standalone mode
    /// issues one itself when it is empty and the demo data is loaded.
    #[serde(serialize_with = "serialize_secret")]
    pub token: SecretString,
    /// Marks the session cookie `Secure` (sent back over HTTPS only). Set it
    /// when browsers reach the console through HTTPS (an ingress that ends
    /// TLS); leave it off for plain `http://` on a workstation, or no
    /// sign-in would stick.
    pub secure_cookies: bool,
    /// Sign-in through the province's identity platform (OpenID Connect);
    /// off while `oidc.issuer` is empty.
    pub oidc: OidcSettings,
    /// The CA (PEM file) that signed the gateway's TLS certificate. When the
    /// gateway serves TLS (`auth.tls_cert_file`), set `gateway.endpoint` to
    /// `https://<a name on its certificate>:<port>` and this, and the console
    /// calls it over TLS (its token authenticates it; no client certificate).
    pub gateway_ca_file: String,
}

impl Default for ConsoleAccessSettings {
    fn default() -> Self {
        Self {
            agency: "centre-620802".into(),
            token: SecretString::from(String::new()),
            secure_cookies: false,
            oidc: OidcSettings::default(),
            gateway_ca_file: String::new(),
        }
    }
}

/// The console as a client of an OpenID Connect provider (authorisation code
/// flow with PKCE). The provider proves who a member of staff is; the
/// console's account of the same name says what they may do.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcSettings {
    /// The provider's issuer URL (its discovery document is at
    /// `<issuer>/.well-known/openid-configuration`); empty: no such sign-in.
    pub issuer: String,
    /// The console's client id at the provider.
    pub client_id: String,
    /// The client's secret (sent with HTTP Basic to the token endpoint);
    /// empty for a public client.
    #[serde(serialize_with = "serialize_secret")]
    pub client_secret: SecretString,
    /// The console's callback as browsers reach it, registered at the
    /// provider: `https://<console host>/login/oidc/callback`.
    pub redirect_url: String,
    /// The ID token claim that holds the console username.
    pub username_claim: String,
    /// What the button on the sign-in page names the provider.
    pub provider_name: String,
}

impl Default for OidcSettings {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            client_id: String::new(),
            client_secret: SecretString::from(String::new()),
            redirect_url: String::new(),
            username_claim: "preferred_username".into(),
            provider_name: "统一身份认证平台".into(),
        }
    }
}

impl OidcSettings {
    /// Whether the console offers this sign-in.
    pub fn enabled(&self) -> bool {
        !self.issuer.is_empty()
    }

    /// What is wrong with the settings, as (key, problem), if anything.
    pub fn problem(&self) -> Option<(&'static str, &'static str)> {
        if !self.enabled() {
            return None;
        }
        let secure_or_loopback = |url: &str| {
            url.starts_with("https://")
                || ["http://127.0.0.1", "http://localhost", "http://[::1]"]
                    .iter()
                    .any(|p| url.strip_prefix(p).is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/'])))
        };
        if !secure_or_loopback(&self.issuer) {
            return Some((
                "console_access.oidc.issuer",
                "must be an https:// URL (http:// only on this machine's loopback, for trials)",
            ));
        }
        if self.client_id.is_empty() {
            return Some(("console_access.oidc.client_id", "is needed with an issuer: the id the provider gave"));
        }
        if !(self.redirect_url.starts_with("https://") || self.redirect_url.starts_with("http://"))
            || !self.redirect_url.ends_with("/login/oidc/callback")
        {
            return Some((
                "console_access.oidc.redirect_url",
                "must be the console's absolute URL ending in /login/oidc/callback, as registered at the provider",
            ));
        }
        if self.username_claim.is_empty() {
            return Some(("console_access.oidc.username_claim", "must name a claim, e.g. preferred_username"));
        }
        None
    }
}

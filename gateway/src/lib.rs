//! Gateway: the only door for agency systems. It authenticates each call to
//! one agency, hands disputes to intake (police), court linkage (courts) or
//! petition linkage (petition bureaus), and answers only about the agency's
//! own cases, by call or by a resumable status stream.

mod agency;
pub mod audit;
pub mod callbacks;
mod calls;
pub mod codes;
pub mod credentials;
pub mod http;
pub mod idempotency;
pub mod limits;
mod linkage_calls;
mod lookup;
mod overload;
mod projection;
pub mod scopes;
pub mod store;
mod text;
pub mod watchers;

/// The status sequencer, for tests of what it wakes.
pub use projection::number_changes;

use std::sync::Arc;

use async_trait::async_trait;
use fengqiao_platform::component::{Api, Component};
use fengqiao_platform::consumer::Consumer;
use fengqiao_platform::group_commit::GroupCommit;
use fengqiao_platform::migrate::Migration;
use fengqiao_platform::{migration, ComponentRuntime};
use fengqiao_proto::fengqiao::court::v1::court_linkage_service_client::CourtLinkageServiceClient;
use fengqiao_proto::fengqiao::gateway::v1::agency_service_server::AgencyServiceServer;
use fengqiao_proto::fengqiao::intake::v1::intake_service_client::IntakeServiceClient;
use fengqiao_proto::fengqiao::petition::v1::petition_linkage_service_client::PetitionLinkageServiceClient;
use fengqiao_proto::fengqiao::routing::v1::routing_service_client::RoutingServiceClient;
use tokio::sync::Notify;

/// The most small writes (ownership rows, key claims) one group commit takes.
const GROUP_COMMIT_BATCH: usize = 256;

/// How long the gateway waits before listening for credential changes again after a failure.
const CREDENTIALS_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// The gateway component.
pub struct Gateway;

#[async_trait]
impl Component for Gateway {
    const NAME: &'static str = "gateway";
    const MIGRATIONS: &'static [Migration] = &[
        migration!("gateway", 1, "0001_gateway.sql", "agencies, case status and its log"),
        migration!("gateway", 2, shared "0002_current_referral.sql", "the referral a status follows"),
        migration!("gateway", 3, shared "0003_credentials.sql", "agency credentials and disabled agencies"),
        migration!("gateway", 4, shared "0004_audit.sql", "the hash-chained audit log"),
        migration!("gateway", 5, shared "0005_idempotency.sql", "idempotency keys and first answers"),
        migration!("gateway", 6, shared "0006_callbacks.sql", "agency callbacks and their dead letters"),
        migration!("gateway", 7, shared "0007_party_lookup.sql", "verification codes for party look-up"),
        migration!("gateway", 8, "0008_status_sequencer.sql", "status changes numbered after commit"),
        migration!("gateway", 9, "0009_status_pending.sql", "status changes wait apart until numbered"),
        migration!("gateway", 10, "0010_credential_changes.sql", "changes to credentials and agencies notified"),
        migration!("gateway", 11, shared "0011_case_owners.sql", "case owners and codes apart from the status view"),
        migration!("gateway", 12, shared "0012_code_key.sql", "the key verification codes are made from"),
    ];

    async fn assemble(runtime: &ComponentRuntime) -> anyhow::Result<Api> {
        let settings = &runtime.settings;
        if settings.seed_demo() {
            let mut conn = runtime.db.writer().acquire().await?;
            let added = store::seed_demo_agencies(&mut conn, fengqiao_platform::db::now_micros()).await?;
            if added > 0 {
                tracing::info!(agencies = added, "demo agencies of Kongtong district loaded");
            }
        }
        let (written, changed) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let status = projection::StatusProjection::new(runtime.db.backend(), written.clone(), changed.clone());
        let watchers = Arc::new(watchers::Watchers::default());
        // What wakes the watchers' look at the log: each commit of the projection where it
        // numbers its own changes; where the sequencer numbers them, it rings their agencies
        // itself, and the watchers look only by their poll (another replica's changes).
        let numbered = if status.numbering() == store::Numbering::AtCommit {
            let numbered = projection::number_left_waiting(&runtime.db).await?;
            if numbered > 0 {
                tracing::info!(changes = numbered, "status changes left waiting by an earlier version numbered");
            }
            changed.clone()
        } else {
            let sequencer = projection::number_changes(
                runtime.db.clone(),
                written,
                changed.clone(),
                watchers.clone(),
                projection::ROUND_GAP,
                runtime.shutdown_token(),
            );
            runtime.spawn("status_numbering", sequencer);
            Arc::new(Notify::new())
        };
        runtime
            .consume(Consumer::new("gateway-status", &fengqiao_domain::result::tracked_events(), Arc::new(status)))
            .await?;
        runtime.spawn("watchers", watchers.clone().follow(runtime.db.clone(), numbered, runtime.shutdown_token()));
        runtime.spawn("expiry", forget_old(runtime.db.clone(), settings.agency_api.clone(), runtime.shutdown_token()));
        // Callbacks go out over rustls with ring, the provider the gateway's own TLS uses.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let pool = http::rules::pool();
        let deliverer =
            callbacks::deliver::Deliverer::new(runtime.db.clone(), settings.agency_api.clone(), &pool, changed.clone());
        runtime.spawn("callbacks", deliverer.run(runtime.shutdown_token()));
        let known = Arc::new(credentials::known::Known::default());
        if let Some(url) = runtime.db.postgres_url() {
            let (known, stop) = (known.clone(), runtime.shutdown_token());
            runtime.spawn("credential_changes", async move { known.listen(url, CREDENTIALS_RETRY, stop).await });
        }
        let api = agency::AgencyApi {
            db: runtime.db.clone(),
            audit: audit::AuditLog::start(runtime.db.clone()),
            known,
            codes: codes::CodeKey::load(&runtime.db).await?,
            owners: GroupCommit::start(runtime.db.clone(), GROUP_COMMIT_BATCH),
            claims: GroupCommit::start(runtime.db.clone(), GROUP_COMMIT_BATCH),
            intake: IntakeServiceClient::new(settings.channel_to("intake")?),
            routing: RoutingServiceClient::new(settings.channel_to("routing")?),
            court: CourtLinkageServiceClient::new(settings.channel_to("court-linkage")?),
            petition: PetitionLinkageServiceClient::new(settings.channel_to("petition-linkage")?),
            changed,
            watchers,
            settings: settings.agency_api.clone(),
            limits: Arc::new(limits::Limits::new(&settings.agency_api)),
            lookups: Arc::new(lookup::Throttle::new(settings.agency_api.lookup_max_failures)),
            pool: pool.clone(),
        };
        let max_message = settings.agency_api.max_message_bytes;
        let grpc = AgencyServiceServer::new(api).max_decoding_message_size(max_message);
        let mut routes = tonic::service::Routes::new(grpc.clone());
        let router = std::mem::take(routes.axum_router_mut());
        let router = http::add_routes(router, pool.clone(), grpc, max_message);
        *routes.axum_router_mut() = overload::bound(router, settings.agency_api.max_in_flight, pool);
        Ok(Api {
            routes,
            services: vec!["fengqiao.gateway.v1.AgencyService"],
            front: Some(fengqiao_platform::grpc::Front {
                tls: tls(settings)?,
                grace: std::time::Duration::from_secs(settings.shutdown_grace_secs),
            }),
        })
    }
}

/// The gateway's TLS configuration, if set (with client certificates if a CA is set).
fn tls(settings: &fengqiao_platform::Settings) -> anyhow::Result<Option<Arc<rustls::ServerConfig>>> {
    let auth = &settings.auth;
    if auth.tls_cert_file.is_empty() {
        return Ok(None);
    }
    let ca = (!auth.client_ca_file.is_empty()).then(|| std::path::Path::new(&auth.client_ca_file));
    let config = fengqiao_platform::front::tls_config(auth.tls_cert_file.as_ref(), auth.tls_key_file.as_ref(), ca)?;
    Ok(Some(config))
}

/// Removes audit entries, idempotency keys and long-expired credentials past their retention, hourly.
async fn forget_old(
    db: fengqiao_platform::Database,
    keep: fengqiao_platform::config::AgencyApiSettings,
    shutdown: tokio_util::sync::CancellationToken,
) {
    const HOUR_MICROS: i64 = 3_600_000_000;
    loop {
        let now = fengqiao_platform::db::now_micros();
        let audit_before = now - keep.audit_retention_days as i64 * 24 * HOUR_MICROS;
        match audit::purge(&db, audit_before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(entries = n, "audit entries past retention removed; the chain's anchor moved"),
            Err(e) => tracing::warn!(error = %e, "cannot remove old audit entries; will retry in an hour"),
        }
        if let Err(e) = idempotency::purge(&db, now - keep.idempotency_hours as i64 * HOUR_MICROS).await {
            tracing::warn!(error = %e, "cannot remove old idempotency keys; will retry in an hour");
        }
        // Expired credentials authenticate nothing; they stay listed for 30 days, then go.
        let expired = match db.writer().acquire().await {
            Ok(mut conn) => credentials::store::purge_expired(&mut conn, now - 30 * 24 * HOUR_MICROS).await,
            Err(e) => Err(e),
        };
        if let Err(e) = expired {
            tracing::warn!(error = %e, "cannot remove expired credentials; will retry in an hour");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
        }
    }
}

/// A fresh gateway database on `backend`, migrated, for unit tests.
#[cfg(test)]
pub(crate) async fn test_database(backend: fengqiao_platform::db::Backend) -> fengqiao_platform::testing::TestDatabase {
    use fengqiao_platform::component::Component;
    let test = fengqiao_platform::testing::TestDatabase::new(backend, "gateway").await.expect("a test database");
    fengqiao_platform::migrate::run(&test.db, Gateway::MIGRATIONS).await.expect("the gateway's migrations");
    test
}

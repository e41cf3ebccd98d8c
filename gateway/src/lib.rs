//! Gateway: the only door for agency systems. It authenticates each call to
//! one agency, hands disputes to intake (police), court linkage (courts) or
//! petition linkage (petition bureaus), and answers only about the agency's
//! own cases, by call or by a resumable status stream. HTTP/JSON, mutual TLS,
//! limits and the audit chain arrive with issue #11.

mod agency;
pub mod auth;
pub mod http;
mod projection;
mod store;

use std::sync::Arc;

use async_trait::async_trait;
use fengqiao_platform::component::{Api, Component};
use fengqiao_platform::consumer::Consumer;
use fengqiao_platform::migrate::Migration;
use fengqiao_platform::{migration, ComponentRuntime};
use fengqiao_proto::fengqiao::court::v1::court_linkage_service_client::CourtLinkageServiceClient;
use fengqiao_proto::fengqiao::gateway::v1::agency_service_server::AgencyServiceServer;
use fengqiao_proto::fengqiao::intake::v1::intake_service_client::IntakeServiceClient;
use fengqiao_proto::fengqiao::petition::v1::petition_linkage_service_client::PetitionLinkageServiceClient;
use fengqiao_proto::fengqiao::routing::v1::routing_service_client::RoutingServiceClient;
use tokio::sync::Notify;

/// The gateway component.
pub struct Gateway;

#[async_trait]
impl Component for Gateway {
    const NAME: &'static str = "gateway";
    const MIGRATIONS: &'static [Migration] = &[
        migration!("gateway", 1, "0001_gateway.sql", "agencies, case status and its log"),
        migration!("gateway", 2, shared "0002_current_referral.sql", "the referral a status follows"),
    ];

    async fn assemble(runtime: &ComponentRuntime) -> anyhow::Result<Api> {
        let settings = &runtime.settings;
        if settings.seed_demo() {
            let mut conn = runtime.db.pool().acquire().await?;
            let added = store::seed_demo_agencies(&mut conn, fengqiao_platform::db::now_micros()).await?;
            if added > 0 {
                tracing::info!(agencies = added, "demo agencies of Kongtong district loaded");
            }
        }
        let changed = Arc::new(Notify::new());
        runtime
            .consume(Consumer::new(
                "gateway-status",
                &fengqiao_domain::result::tracked_events(),
                Arc::new(projection::StatusProjection { changed: changed.clone() }),
            ))
            .await?;
        let api = agency::AgencyApi {
            db: runtime.db.clone(),
            secret: auth::secret(settings)?,
            intake: IntakeServiceClient::new(settings.channel_to("intake")?),
            routing: RoutingServiceClient::new(settings.channel_to("routing")?),
            court: CourtLinkageServiceClient::new(settings.channel_to("court-linkage")?),
            petition: PetitionLinkageServiceClient::new(settings.channel_to("petition-linkage")?),
            changed,
        };
        let grpc = AgencyServiceServer::new(api);
        let mut routes = tonic::service::Routes::new(grpc.clone());
        let router = std::mem::take(routes.axum_router_mut());
        *routes.axum_router_mut() = http::add_routes(router, grpc);
        Ok(Api {
            routes,
            services: vec!["fengqiao.gateway.v1.AgencyService"],
            front: Some(fengqiao_platform::grpc::Front {
                tls: None,
                grace: std::time::Duration::from_secs(settings.shutdown_grace_secs),
            }),
        })
    }
}

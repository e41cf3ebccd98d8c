//! Mediation: an organisation's work on the referrals it receives — the
//! inbox, acceptance or rejection, the mediation and its outcome. It owns the
//! receiving side of every referral: a revoke racing an accept is decided here,
//! in one transaction.

mod error;
mod grpc;
mod service;
mod store;

use std::sync::Arc;

use async_trait::async_trait;
use fengqiao_platform::bus::Envelope;
use fengqiao_platform::component::{Api, Component};
use fengqiao_platform::consumer::{Consumer, EventHandler, HandlerError};
use fengqiao_platform::migrate::Migration;
use fengqiao_platform::{migration, ComponentRuntime};
use fengqiao_proto::fengqiao::events::v1::ReferralRequested;
use fengqiao_proto::fengqiao::intake::v1::intake_service_client::IntakeServiceClient;
use fengqiao_proto::fengqiao::mediation::v1::mediation_service_server::MediationServiceServer;
use fengqiao_proto::EventKind;
use sqlx::{Any, Transaction};

pub use error::MediationError;
pub use service::{InboxPage, MediationService, Step};

/// The mediation component.
pub struct Mediation;

#[async_trait]
impl Component for Mediation {
    const NAME: &'static str = "mediation";
    const MIGRATIONS: &'static [Migration] = &[
        migration!("mediation", 1, "0001_referrals.sql", "referrals' receiving side"),
        migration!("mediation", 2, shared "0002_mediator.sql", "the mediator a referral names"),
    ];

    async fn assemble(runtime: &ComponentRuntime) -> anyhow::Result<Api> {
        let intake = IntakeServiceClient::new(runtime.settings.channel_to("intake")?);
        let service = Arc::new(MediationService::new(runtime.db.clone(), runtime.outbox(), intake));
        runtime
            .consume(Consumer::new(
                "mediation-referrals",
                &[EventKind::ReferralRequested],
                Arc::new(ReceiveReferrals(service.clone())),
            ))
            .await?;
        Ok(Api {
            routes: tonic::service::Routes::new(MediationServiceServer::new(grpc::MediationGrpc::new(service))),
            services: vec!["fengqiao.mediation.v1.MediationService"],
        })
    }
}

/// Puts each requested referral in its organisation's inbox.
struct ReceiveReferrals(Arc<MediationService>);

#[async_trait]
impl EventHandler for ReceiveReferrals {
    async fn handle(&self, tx: &mut Transaction<'static, Any>, event: &Envelope) -> Result<(), HandlerError> {
        let requested: ReferralRequested = event.decode()?;
        self.0.receive(tx, &requested).await?;
        Ok(())
    }
}

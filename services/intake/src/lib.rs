//! Intake: the one door every dispute passes through to become a case. It
//! validates, numbers (`<county>-<year>-<seq>`, gap-free), registers once per
//! `(source agency, external reference)`, seals personal data, links the case
//! to earlier ones of the same party, sets its risk level by rule and
//! announces `fq.v1.case.registered`.

mod error;
mod grpc;
mod links;
pub mod pii;
mod registration;
mod risk;
mod service;
mod store;
pub mod validate;

use std::sync::Arc;

use async_trait::async_trait;
use fengqiao_platform::component::{Api, Component};
use fengqiao_platform::migrate::Migration;
use fengqiao_platform::{migration, ComponentRuntime};
use fengqiao_proto::fengqiao::intake::v1::intake_service_server::IntakeServiceServer;

pub use error::IntakeError;
pub use service::{IntakeService, Registered};

/// The intake component.
pub struct Intake;

#[async_trait]
impl Component for Intake {
    const NAME: &'static str = "intake";
    const MIGRATIONS: &'static [Migration] = &[
        migration!("intake", 1, "0001_cases.sql", "cases and case numbers"),
        migration!("intake", 2, shared "0002_parties.sql", "parties with sealed personal data"),
        migration!("intake", 3, shared "0003_links_and_risk.sql", "links between cases, risk explanations"),
        migration!("intake", 4, shared "0004_personal_data_access.sql", "record of personal data shown in full"),
    ];

    async fn assemble(runtime: &ComponentRuntime) -> anyhow::Result<Api> {
        // Parse the 2023 division codes before serving: a registration arriving
        // first would wait for the parse, behind a port that already said ready.
        let d = tokio::task::spawn_blocking(fengqiao_regions::divisions).await?;
        let (load_ms, held_mb) = (d.load_time.as_millis() as u64, d.held_bytes() >> 20);
        tracing::info!(codes = d.len(), load_ms, held_mb, "division codes loaded");
        let vault = Arc::new(pii::Vault::from_settings(&runtime.settings)?);
        let rules = runtime.settings.intake_rules.clone();
        let service = Arc::new(IntakeService::new(runtime.db.clone(), runtime.outbox(), vault, rules));
        let server = IntakeServiceServer::new(grpc::IntakeGrpc::new(service));
        Ok(Api {
            routes: tonic::service::Routes::new(server),
            services: vec!["fengqiao.intake.v1.IntakeService"],
            front: None,
        })
    }
}

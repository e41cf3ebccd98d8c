//! Petition linkage: referral from the petition bureau, its clocks and the result's return (issues #4, #10).
//!
//! Today the component runs what every component runs — its database and
//! migrations, outbox relay, health, readiness and reflection — and serves no
//! domain API yet.

use async_trait::async_trait;
use fengqiao_platform::component::{Api, Component};
use fengqiao_platform::migrate::Migration;
use fengqiao_platform::ComponentRuntime;

/// The petition-linkage component.
pub struct PetitionLinkage;

#[async_trait]
impl Component for PetitionLinkage {
    const NAME: &'static str = "petition-linkage";
    const MIGRATIONS: &'static [Migration] = &[];

    async fn assemble(_runtime: &ComponentRuntime) -> anyhow::Result<Api> {
        Ok(Api::default())
    }
}

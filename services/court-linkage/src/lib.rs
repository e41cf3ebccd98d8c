//! Court linkage: delegation, entrustment, result return and judicial confirmation (issues #4, #9).
//!
//! Today the component runs what every component runs — its database and
//! migrations, outbox relay, health, readiness and reflection — and serves no
//! domain API yet.

use async_trait::async_trait;
use fengqiao_platform::component::{Api, Component};
use fengqiao_platform::migrate::Migration;
use fengqiao_platform::ComponentRuntime;

/// The court-linkage component.
pub struct CourtLinkage;

#[async_trait]
impl Component for CourtLinkage {
    const NAME: &'static str = "court-linkage";
    const MIGRATIONS: &'static [Migration] = &[];

    async fn assemble(_runtime: &ComponentRuntime) -> anyhow::Result<Api> {
        Ok(Api::default())
    }
}

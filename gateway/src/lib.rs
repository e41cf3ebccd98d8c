//! Gateway: the only door for agency systems (issues #4, #11).
//!
//! Today the component runs what every component runs — its database and
//! migrations, outbox relay, health, readiness and reflection — and serves no
//! domain API yet.

use async_trait::async_trait;
use fengqiao_platform::component::{Api, Component};
use fengqiao_platform::migrate::Migration;
use fengqiao_platform::ComponentRuntime;

/// The gateway component.
pub struct Gateway;

#[async_trait]
impl Component for Gateway {
    const NAME: &'static str = "gateway";
    const MIGRATIONS: &'static [Migration] = &[];

    async fn assemble(_runtime: &ComponentRuntime) -> anyhow::Result<Api> {
        Ok(Api::default())
    }
}

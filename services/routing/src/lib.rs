//! Routing: the directory, routing rules, the referral state machine, clocks and alarms (issues #4, #6, #7).
//!
//! Today the component runs what every component runs — its database and
//! migrations, outbox relay, health, readiness and reflection — and serves no
//! domain API yet.

use async_trait::async_trait;
use fengqiao_platform::component::{Api, Component};
use fengqiao_platform::migrate::Migration;
use fengqiao_platform::ComponentRuntime;

/// The routing component.
pub struct Routing;

#[async_trait]
impl Component for Routing {
    const NAME: &'static str = "routing";
    const MIGRATIONS: &'static [Migration] = &[];

    async fn assemble(_runtime: &ComponentRuntime) -> anyhow::Result<Api> {
        Ok(Api::default())
    }
}

//! Intake: the one door every dispute passes through to become a case (registration arrives with issues #4 and #5).
//!
//! Today the component runs what every component runs — its database and
//! migrations, outbox relay, health, readiness and reflection — and serves no
//! domain API yet.

use async_trait::async_trait;
use fengqiao_platform::component::{Api, Component};
use fengqiao_platform::migrate::Migration;
use fengqiao_platform::ComponentRuntime;

/// The intake component.
pub struct Intake;

#[async_trait]
impl Component for Intake {
    const NAME: &'static str = "intake";
    const MIGRATIONS: &'static [Migration] = &[];

    async fn assemble(_runtime: &ComponentRuntime) -> anyhow::Result<Api> {
        Ok(Api::default())
    }
}

//! The table of components: one builder each, shared by standalone and serve.

use std::sync::Arc;

use fengqiao_platform::bus::EventBus;
use fengqiao_platform::component::{self, Component as _};
use fengqiao_platform::migrate::Migration;
use fengqiao_platform::{RunningComponent, Settings};
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

type Build = fn(Settings, Arc<dyn EventBus>, CancellationToken) -> BoxFuture<'static, anyhow::Result<RunningComponent>>;

/// One component of fengqiao.
pub struct Component {
    /// Its name.
    pub name: &'static str,
    /// Its own migrations.
    pub migrations: &'static [Migration],
    /// Its builder.
    pub build: Build,
}

macro_rules! component {
    ($ty:ty) => {
        Component {
            name: <$ty>::NAME,
            migrations: <$ty>::MIGRATIONS,
            build: |s, b, t| Box::pin(component::build::<$ty>(s, b, t)),
        }
    };
}

/// Every component, in start order: each after the components it calls.
pub const ALL: [Component; 7] = [
    component!(fengqiao_intake::Intake),
    component!(fengqiao_mediation::Mediation),
    component!(fengqiao_routing::Routing),
    component!(fengqiao_court_linkage::CourtLinkage),
    component!(fengqiao_petition_linkage::PetitionLinkage),
    component!(fengqiao_gateway::Gateway),
    component!(fengqiao_console::Console),
];

/// The component names, for the command line.
pub fn names() -> [&'static str; 7] {
    ALL.map(|c| c.name)
}

/// The component called `name`.
pub fn find(name: &str) -> Option<&'static Component> {
    ALL.iter().find(|c| c.name == name)
}

//! The life of a component process, the same for every component and both
//! run modes: connect and migrate its database, run its outbox relay and
//! consumers, serve gRPC with health and readiness, and stop cleanly.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::service::Routes;
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

use crate::bus::EventBus;
use crate::config::Settings;
use crate::consumer::{self, Consumer, RunningConsumer};
use crate::db::Database;
use crate::metrics::{PlatformSampler, Reading, Sampler, CONSUMER_PENDING};
use crate::migrate::{self, Migration, MigrationReport};
use crate::outbox::{OutboxNotifier, OutboxRelay};

/// The platform's own tables in every component: outbox, inbox, dead letters.
pub const PLATFORM_MIGRATIONS: &[Migration] = &[
    crate::migration!("platform", 1, "0001_outbox_inbox.sql", "outbox, inbox and dead-letter record"),
    crate::migration!("platform", 2, shared "0002_dead_letter_replay.sql", "replay requests for parked events"),
];

/// What a component adds to the runtime every component shares.
#[async_trait]
pub trait Component: Send + Sync + 'static {
    /// Its name: its schema, its SQLite file, its settings section, its log field.
    const NAME: &'static str;
    /// Its own migrations, applied after the platform's.
    const MIGRATIONS: &'static [Migration];
    /// Starts its consumers on `runtime` and returns the gRPC API it serves.
    async fn assemble(runtime: &ComponentRuntime) -> anyhow::Result<Api>;
}

/// The gRPC services a component serves.
#[derive(Default)]
pub struct Api {
    /// The tonic routes.
    pub routes: Routes,
    /// Their fully-qualified service names (for health and reflection).
    pub services: Vec<&'static str>,
    /// Served for outside callers (HTTP too, TLS) rather than by tonic's server.
    pub front: Option<crate::grpc::Front>,
}

/// Builds and starts component `C` on its configured listen address; it runs
/// until `shutdown` fires (see [`RunningComponent::run_until_stopped`]). The one
/// code path of a component, in standalone and distributed mode alike.
pub async fn build<C: Component>(
    settings: Settings,
    bus: Arc<dyn EventBus>,
    shutdown: CancellationToken,
) -> anyhow::Result<RunningComponent> {
    let listen = settings
        .component(C::NAME)
        .ok_or_else(|| anyhow::anyhow!("no settings section for component {}", C::NAME))?
        .listen;
    let runtime = ComponentRuntime::prepare(C::NAME, settings, bus, C::MIGRATIONS, shutdown).await?;
    let api = C::assemble(&runtime).await?;
    runtime.serve(listen, api).await
}

/// Connects `component` to its database and applies the platform's and its own migrations.
pub async fn migrate(
    settings: &Settings,
    component: &str,
    migrations: &[Migration],
) -> anyhow::Result<(Database, MigrationReport)> {
    let db = Database::connect(settings, component).await?;
    let mut all = PLATFORM_MIGRATIONS.to_vec();
    all.extend_from_slice(migrations);
    let report = migrate::run(&db, &all).await?;
    Ok((db, report))
}

/// A component being assembled: its database is ready, nothing runs yet.
pub struct ComponentRuntime {
    /// The component's name (`intake`, `court-linkage`, …).
    pub name: &'static str,
    /// The process settings.
    pub settings: Settings,
    /// Its database.
    pub db: Database,
    /// The bus it publishes to and consumes from.
    pub bus: Arc<dyn EventBus>,
    relay: OutboxRelay,
    tasks: TaskTracker,
    shutdown: CancellationToken,
    samplers: std::sync::Mutex<Vec<Arc<dyn Sampler>>>,
    consumers: std::sync::Mutex<Vec<String>>,
}

impl ComponentRuntime {
    /// Connects and migrates the component's database.
    pub async fn prepare(
        name: &'static str,
        settings: Settings,
        bus: Arc<dyn EventBus>,
        migrations: &[Migration],
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let (db, report) = migrate(&settings, name, migrations).await?;
        for applied in &report.applied {
            tracing::info!(component = name, migration = %applied, "migration applied");
        }
        let relay = OutboxRelay::new(db.clone(), bus.clone(), settings.outbox.clone());
        Ok(Self {
            name,
            settings,
            db,
            bus,
            relay,
            tasks: TaskTracker::new(),
            shutdown,
            samplers: std::sync::Mutex::new(vec![Arc::new(PlatformSampler)]),
            consumers: Default::default(),
        })
    }

    /// Wakes the outbox relay after a commit.
    pub fn outbox(&self) -> OutboxNotifier {
        self.relay.notifier()
    }

    /// Runs background work of the component until it stops (tracked, so a
    /// stop waits for it); `holder` names it in the writers' timings
    /// ([`crate::db::held_by`]).
    pub fn spawn<F>(&self, holder: &'static str, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(crate::db::held_by(holder, task));
    }

    /// The token that stops the component.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.child_token()
    }

    /// Adds gauges read from the component's state (see [`crate::metrics`]).
    pub fn add_sampler(&self, sampler: Arc<dyn Sampler>) {
        self.samplers.lock().expect("samplers lock").push(sampler);
    }

    /// Starts a consumer.
    pub async fn consume(&self, consumer: Consumer) -> anyhow::Result<RunningConsumer> {
        self.consumers.lock().expect("consumers lock").push(consumer.name().to_string());
        Ok(consumer::start(
            consumer,
            self.db.clone(),
            self.bus.clone(),
            &self.settings.bus,
            self.outbox(),
            &self.tasks,
            self.shutdown.child_token(),
        )
        .await?)
    }

    /// Starts the relay and the gRPC server on `listen`, serving `api`.
    pub async fn serve(self, listen: SocketAddr, api: Api) -> anyhow::Result<RunningComponent> {
        let services = &api.services;
        let listener = crate::grpc::bind(self.name, listen).await?;
        let server =
            crate::grpc::serve(listener, api.routes, services, api.front, &self.tasks, self.shutdown.child_token())
                .await?;
        self.spawn("outbox_relay", self.relay.clone().run(self.shutdown.child_token()));
        self.spawn(
            "retention",
            crate::retention::run(self.db.clone(), self.settings.clone(), self.shutdown.child_token()),
        );
        let mut samplers = std::mem::take(&mut *self.samplers.lock().expect("samplers lock"));
        let consumers = std::mem::take(&mut *self.consumers.lock().expect("consumers lock"));
        samplers.push(Arc::new(ConsumerLag { bus: self.bus.clone(), consumers }));
        self.tasks.spawn(crate::metrics::sample_forever(
            self.name,
            self.db.clone(),
            samplers,
            self.shutdown.child_token(),
        ));
        self.tasks.spawn(readiness(
            self.name,
            self.db.clone(),
            self.bus.clone(),
            server.health.clone(),
            services.iter().map(|s| s.to_string()).collect(),
            self.shutdown.child_token(),
        ));
        tracing::info!(component = self.name, addr = %server.local_addr, bus = self.bus.kind(), "component serving");
        Ok(RunningComponent {
            name: self.name,
            local_addr: server.local_addr,
            health: server.health,
            tasks: self.tasks,
            shutdown: self.shutdown,
            grace: Duration::from_secs(self.settings.shutdown_grace_secs),
        })
    }
}

/// How many events the broker holds for each of the component's consumers.
struct ConsumerLag {
    bus: Arc<dyn EventBus>,
    consumers: Vec<String>,
}

#[async_trait]
impl Sampler for ConsumerLag {
    async fn sample(&self, _db: &Database) -> anyhow::Result<Vec<Reading>> {
        let mut readings = Vec::new();
        for consumer in &self.consumers {
            if let Some(pending) = self.bus.pending(consumer).await? {
                readings.push(Reading::new(CONSUMER_PENDING, pending as f64).label("consumer", consumer.clone()));
            }
        }
        Ok(readings)
    }
}

/// Marks the process NOT_SERVING while its database or bus does not answer.
async fn readiness(
    name: &'static str,
    db: Database,
    bus: Arc<dyn EventBus>,
    health: HealthReporter,
    services: Vec<String>,
    shutdown: CancellationToken,
) {
    let mut was_ready = true;
    crate::admin::set_ready(name, true);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
        let db_ok = tokio::time::timeout(Duration::from_secs(2), db.ping()).await.is_ok_and(|r| r.is_ok());
        let bus_ok = bus.ping().await.is_ok();
        let ready = db_ok && bus_ok;
        if ready != was_ready {
            let status = if ready { ServingStatus::Serving } else { ServingStatus::NotServing };
            if !ready {
                tracing::warn!(database = db_ok, bus = bus_ok, "not ready: check the database and the bus");
            }
            health.set_service_status("", status).await;
            crate::admin::set_ready(name, ready);
            for s in &services {
                health.set_service_status(s.as_str(), status).await;
            }
            was_ready = ready;
        }
    }
    let _ = health.set_service_status("", ServingStatus::NotServing).await;
    crate::admin::forget(name);
}

/// A component that serves until stopped.
pub struct RunningComponent {
    name: &'static str,
    local_addr: SocketAddr,
    health: HealthReporter,
    tasks: TaskTracker,
    shutdown: CancellationToken,
    grace: Duration,
}

impl RunningComponent {
    /// The component's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Where its gRPC server listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Its port (useful when it was asked for port 0).
    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    /// Its health reporter.
    pub fn health(&self) -> &HealthReporter {
        &self.health
    }

    /// The token that stops it.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Waits until the shutdown token fires (e.g. on SIGTERM), then stops:
    /// no new calls, in-flight calls and events finish, the outbox drains —
    /// all within `shutdown_grace_secs`.
    pub async fn run_until_stopped(self) {
        self.shutdown.cancelled().await;
        self.stop().await;
    }

    /// Stops now, waiting at most the grace period.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.tasks.close();
        if tokio::time::timeout(self.grace, self.tasks.wait()).await.is_err() {
            tracing::warn!(component = self.name, "shutdown grace period passed; stopping anyway");
        }
        tracing::info!(component = self.name, "component stopped");
    }
}

/// A token cancelled on SIGINT (Ctrl-C) or SIGTERM.
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("stop signal received; draining");
        trigger.cancel();
    });
    token
}

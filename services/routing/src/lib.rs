//! Routing: who should act on a case and why. It refers each registered case
//! to the lowest-level organisation covering its place, follows what the
//! receiving side does, escalates a rejected or failed referral one level up
//! (village → township → county centre), returns the case to its sender when
//! every level declined, and forwards a sender's revoke to the receiving side.

mod alarms;
mod case_clocks;
pub mod clocks;
mod decide;
mod directory;
mod error;
#[cfg(test)]
mod follow_tests;
pub mod gauges;
mod grpc;
pub mod load;
mod mediators;
mod organisations;
mod rules;
mod service;
mod store;
mod summons;
pub mod supervision;
#[cfg(test)]
mod testing;

use std::sync::Arc;

use async_trait::async_trait;
use fengqiao_platform::bus::Envelope;
use fengqiao_platform::component::{Api, Component};
use fengqiao_platform::consumer::{handle_each, run_span, runs_of_kind, Arrival, Consumer, EventHandler, HandlerError};
use fengqiao_platform::migrate::Migration;
use fengqiao_platform::outage::Outage;
use fengqiao_platform::{migration, ComponentRuntime};
use fengqiao_proto::fengqiao::common::v1::ReferralState;
use fengqiao_proto::fengqiao::events::v1::{
    CaseRegistered, CaseRiskChanged, EventDeadLettered, EventReplayed, MediationConcluded, ReferralStateChanged,
};
use fengqiao_proto::fengqiao::routing::v1::routing_service_server::RoutingServiceServer;
use fengqiao_proto::fengqiao::supervision::v1::supervision_service_server::SupervisionServiceServer;
use fengqiao_proto::EventKind;
use sqlx::{Any, Transaction};
use tracing::Instrument;

pub use error::RoutingError;
pub use organisations::validate as validate_organisation;
pub use service::RoutingService;
pub use summons::Summons;

/// The routing component.
pub struct Routing;

#[async_trait]
impl Component for Routing {
    const NAME: &'static str = "routing";
    const MIGRATIONS: &'static [Migration] = &[
        migration!("routing", 1, "0001_routing.sql", "directory, routed cases, referrals"),
        migration!("routing", 2, shared "0002_directory_rules.sql", "capacity, categories and agencies of organisations"),
        migration!("routing", 3, shared "0003_acceptance_timeout.sql", "acceptance timeouts"),
        migration!("routing", 4, shared "0004_joint_summons.sql", "joint summons"),
        migration!("routing", 5, shared "0005_mediators.sql", "mediators, contacts, named mediators"),
        migration!("routing", 6, shared "0006_clocks.sql", "clocks of cases"),
        migration!("routing", 7, shared "0007_clock_extensions.sql", "consented clock extensions"),
        migration!("routing", 8, shared "0008_missing_clock_alarms.sql", "alarms for missing clocks"),
        migration!("routing", 9, shared "0009_supervision.sql", "alarms, warnings, leader owners, notices, figures"),
        migration!("routing", 10, shared "0010_extended_from.sql", "the first deadline of an extended clock"),
        migration!("routing", 11, shared "0011_petition_reviews.sql", "cases answering a petition review"),
        migration!("routing", 12, shared "0012_open_referrals_by_org.sql", "open referrals by organisation (routing load)"),
        migration!("routing", 13, "0013_org_load.sql", "organisations' open referrals kept as a number"),
        migration!(
            "routing",
            14,
            "0014_org_load_truncate.sql",
            "organisations' loads emptied with a TRUNCATE of referrals"
        ),
    ];

    async fn assemble(runtime: &ComponentRuntime) -> anyhow::Result<Api> {
        if runtime.settings.seed_demo() {
            let mut conn = runtime.db.writer().acquire().await?;
            let added = directory::seed_demo(&mut conn).await?;
            if added > 0 {
                tracing::info!(organisations = added, "demo directory of Kongtong district (620802) loaded");
            }
        }
        let rules =
            Arc::new(rules::Rules::load(runtime.settings.routing_rules_file.as_deref()).map_err(anyhow::Error::msg)?);
        runtime.spawn("rules_watch", watch_rules(rules.clone(), runtime.shutdown_token()));
        let regimes = clocks::Regimes::new(runtime.settings.clocks.clone()).map_err(anyhow::Error::msg)?;
        let service = Arc::new(RoutingService::new(
            runtime.db.clone(),
            runtime.outbox(),
            runtime.settings.channel_to("mediation")?,
            rules,
            regimes.clone(),
        ));
        let supervision = Arc::new(supervision::Supervision::new(
            runtime.db.clone(),
            runtime.outbox(),
            regimes,
            runtime.settings.supervision.clone(),
        ));
        runtime.add_sampler(Arc::new(gauges::RoutingGauges));
        runtime.spawn("org_load", load::fold_while(runtime.db.clone(), runtime.shutdown_token()));
        runtime.spawn("clocks", breach_due_clocks(service.clone(), supervision.clone(), runtime.shutdown_token()));
        let timeout = std::time::Duration::from_secs(runtime.settings.routing_acceptance_timeout_secs);
        runtime.spawn(
            "acceptance_timeouts",
            sweep_acceptance_timeouts(service.clone(), timeout, runtime.shutdown_token()),
        );
        let mut kinds = vec![
            EventKind::CaseRegistered,
            EventKind::CaseRiskChanged,
            EventKind::MediationConcluded,
            EventKind::EventDeadLettered,
            EventKind::EventReplayed,
            EventKind::ConfirmationRequested,
            EventKind::ConfirmationAccepted,
            EventKind::ConfirmationDecided,
            EventKind::PetitionReviewRequested,
        ];
        kinds.extend(fengqiao_domain::referral::STATE_CHANGE_EVENTS);
        let follow = FollowCases { routing: service.clone(), supervision: supervision.clone() };
        runtime.consume(Consumer::new("routing-cases", &kinds, Arc::new(follow))).await?;
        let routes = tonic::service::Routes::new(RoutingServiceServer::new(grpc::RoutingGrpc::new(
            service,
            summons::Summons::new(runtime.db.clone()),
        )))
        .add_service(SupervisionServiceServer::new(supervision::SupervisionGrpc(supervision)));
        Ok(Api {
            routes,
            services: vec!["fengqiao.routing.v1.RoutingService", "fengqiao.supervision.v1.SupervisionService"],
            front: None,
        })
    }
}

/// Gives up on referrals not accepted in time, every second: each is
/// cancelled at the receiving side (if it is still unaccepted) and the
/// cancellation escalates the case.
async fn sweep_acceptance_timeouts(
    service: Arc<RoutingService>,
    timeout: std::time::Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut outage = Outage::new(Routing::NAME, "acceptance timeout sweep");
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
        outage.record(&service.time_out_unaccepted(timeout).await);
    }
}

/// Breaches and warns of due clocks every quarter second (each once, across
/// replicas, within a second of due) and, every thirty seconds, raises alarms
/// for cases worked on without their clock and for cases that have not moved.
async fn breach_due_clocks(
    service: Arc<RoutingService>,
    supervision: Arc<supervision::Supervision>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut tick: u64 = 0;
    let mut clocks = Outage::new(Routing::NAME, "due-clock sweep");
    let mut missing = Outage::new(Routing::NAME, "missing-clock alarm sweep");
    let mut stuck = Outage::new(Routing::NAME, "stuck-case alarm sweep");
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(std::time::Duration::from_millis(250)) => {}
        }
        clocks.record(&service.breach_due_clocks().await);
        tick += 1;
        if tick.is_multiple_of(120) {
            missing.record(&service.alarm_missing_clocks().await);
            stuck.record(&supervision.sweep_stuck(fengqiao_platform::db::now_micros()).await);
        }
    }
}

/// Re-reads the rules file every two seconds; a broken file keeps the old rules.
async fn watch_rules(rules: Arc<rules::Rules>, shutdown: tokio_util::sync::CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
        }
        match rules.reload_if_changed() {
            Ok(true) => tracing::info!("routing rules reloaded"),
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "routing rules file is invalid; the previous rules stay in force"),
        }
    }
}

/// Routes new cases, follows their referrals, risk and conclusions, and
/// collects dead-letter alarms from every component.
struct FollowCases {
    routing: Arc<RoutingService>,
    supervision: Arc<supervision::Supervision>,
}

#[async_trait]
impl EventHandler for FollowCases {
    async fn handle(&self, tx: &mut Transaction<'static, Any>, event: &Envelope) -> Result<(), HandlerError> {
        match event.kind() {
            Some(EventKind::CaseRegistered) => self.register(tx, &[(event.decode()?, event.time_micros)]).await,
            Some(EventKind::CaseRiskChanged) => {
                let ev = event.decode::<CaseRiskChanged>()?;
                let division = self.routing.on_risk_changed(tx, &ev).await?;
                Ok(self.supervision.on_risk(tx, &ev.case_id, &division, ev.to_level).await?)
            }
            Some(EventKind::MediationConcluded) => {
                let ev = event.decode::<MediationConcluded>()?;
                supervision::facts::concluded(tx, &ev, event.time_micros).await?;
                self.routing.on_concluded(tx, &ev).await
            }
            Some(
                kind @ (EventKind::ConfirmationRequested
                | EventKind::ConfirmationAccepted
                | EventKind::ConfirmationDecided),
            ) => self.routing.on_confirmation(tx, kind, &event.case_id).await,
            Some(EventKind::PetitionReviewRequested) => self.routing.on_review_requested(tx, &event.decode()?).await,
            Some(EventKind::EventDeadLettered) => {
                Ok(self.supervision.on_dead_lettered(tx, &event.decode::<EventDeadLettered>()?).await?)
            }
            Some(EventKind::EventReplayed) => {
                Ok(self.supervision.on_replayed(tx, &event.decode::<EventReplayed>()?).await?)
            }
            Some(EventKind::ReferralReceived) => self.receive(tx, &[event.decode()?]).await,
            Some(_) => {
                let ev = event.decode::<ReferralStateChanged>()?;
                self.routing.on_referral_changed(tx, &ev).await?;
                let to = ReferralState::try_from(ev.to_state).unwrap_or_default();
                Ok(self.supervision.on_referral_moved(tx, &ev.referral_id, to).await?)
            }
            None => Err(HandlerError(format!("unknown event type {}", event.event_type))),
        }
    }

    /// Each run of registrations, and each run of receipts, followed at once;
    /// any other event alone. A run gathers its kind from the batch's other
    /// cases (`runs_of_kind`); each case's events keep their order.
    async fn handle_all(&self, tx: &mut Transaction<'static, Any>, events: &[Arrival<'_>]) -> Result<(), HandlerError> {
        for run in &runs_of_kind(events) {
            match run[0].event.kind() {
                Some(EventKind::CaseRegistered) => {
                    let registered: Result<Vec<_>, _> =
                        run.iter().map(|a| Ok::<_, HandlerError>((a.event.decode()?, a.event.time_micros))).collect();
                    self.register(tx, &registered?).instrument(run_span(run)).await?;
                }
                Some(EventKind::ReferralReceived) => {
                    let moves: Result<Vec<_>, _> = run.iter().map(|a| a.event.decode()).collect();
                    self.receive(tx, &moves?).instrument(run_span(run)).await?;
                }
                _ => handle_each(self, tx, run).await?,
            }
        }
        Ok(())
    }
}

impl FollowCases {
    /// Follows receipts of referrals (moves to RECEIVED), then clears their stuck alarms.
    async fn receive(
        &self,
        tx: &mut Transaction<'static, Any>,
        moves: &[ReferralStateChanged],
    ) -> Result<(), HandlerError> {
        self.routing.on_referrals_received(tx, moves).await?;
        let ids: Vec<&str> = moves.iter().map(|ev| ev.referral_id.as_str()).collect();
        Ok(self.supervision.on_referrals_moved(tx, &ids, ReferralState::Received).await?)
    }

    /// Routes registered cases (each with its event's time), then follows
    /// each one's risk (a RED case gets its leader owner).
    async fn register(
        &self,
        tx: &mut Transaction<'static, Any>,
        run: &[(CaseRegistered, i64)],
    ) -> Result<(), HandlerError> {
        if run.is_empty() {
            return Ok(());
        }
        self.routing.on_cases_registered(tx, run).await?;
        for (ev, _) in run {
            let division = ev.dispute.as_ref().and_then(|d| d.location.as_ref()).map(|l| l.division_code.as_str());
            self.supervision.on_risk(tx, &ev.case_id, division.unwrap_or_default(), ev.risk_level).await?;
        }
        Ok(())
    }
}
